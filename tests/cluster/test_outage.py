"""A replica whose PostgreSQL goes away: 503 DATABASE_UNAVAILABLE on what needs the database, speech
with built-in voices goes on, /health says so, and all of it recovers without a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.conftest import make_settings, running_app
from tests.support.audio import decode_bytes
from tests.support.postgres import PostgresForTests


async def test_a_replica_rides_out_a_database_outage(postgres: PostgresForTests, data_dir: Path) -> None:
    settings = make_settings(data_dir, database_url=postgres.new_database(), replica_id="solo")
    async with running_app(settings) as client:
        assert (await client.get("/jobs")).status_code == 200
        postgres.stop_server()
        try:
            refused = await client.get("/jobs")
            assert refused.status_code == 503 and refused.json()["error_code"] == "DATABASE_UNAVAILABLE"
            assert int(refused.headers["Retry-After"]) >= 1
            assert (await client.post("/voice_mappings", json={"voice_id": "x", "voice_seed": 1})).status_code == 503
            spoken = await client.post("/v1/audio/speech", json={"input": "Still speaking.", "voice": "alloy"})
            assert spoken.status_code == 200 and decode_bytes(spoken.content).duration > 0.5
            health = await client.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded" and health.json()["database"]["reachable"] is False
        finally:
            postgres.start_server()
        deadline = time.monotonic() + 60
        while (await client.get("/jobs")).status_code != 200:
            assert time.monotonic() < deadline, "the replica did not reach the database again"
            await asyncio.sleep(0.1)
        health = (await client.get("/health")).json()
        assert health["status"] == "healthy" and health["database"] == {"dialect": "postgresql", "reachable": True}
        created = await client.post("/generate", params={"async_mode": "true"}, json={"text": "After the outage."})
        assert created.status_code == 200
