"""GET/PUT /config: round trip, rejection without side effects, live effect, persistence."""

from __future__ import annotations

from typing import Any

from tests.conftest import AppFactory

SPEC_KEYS = {
    "debug_mode",
    "save_outputs",
    "show_prompts",
    "output_retention_hours",
    "auto_discover_prompts",
    "auto_transcribe",
    "whisper_model_size",
    "gpu_mode",
    "worker_count",
    "torch_compile_enabled",
}
RATE_KEYS = {"rate_limit_enabled", "rate_limit_generate", "rate_limit_upload", "rate_limit_jobs"}


async def test_round_trip(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        config = (await client.get("/config")).json()
        assert set(config) == SPEC_KEYS | RATE_KEYS
        assert config["worker_count"] == 2 and config["gpu_mode"] == "auto"

        same = await client.put("/config", json=config)
        assert same.status_code == 200 and same.json()["updated"] == []

        changed = await client.put(
            "/config", json={"debug_mode": True, "output_retention_hours": 6, "whisper_model_size": "small"}
        )
        body = changed.json()
        assert changed.status_code == 200, body
        assert body["updated"] == ["debug_mode", "output_retention_hours", "whisper_model_size"]
        assert body["restart_required"] == ["whisper_model_size"]
        assert "Restart" in body["message"]
        expected = {**config, "debug_mode": True, "output_retention_hours": 6.0, "whisper_model_size": "small"}
        assert body["config"] == expected
        assert (await client.get("/config")).json() == expected


BAD_CHANGES: list[dict[str, Any]] = [
    {"no_such_key": 1},
    {"debug_mode": True, "api_key": "x"},
    {"debug_mode": "yes"},
    {"debug_mode": None},
    {"worker_count": 0},
    {"worker_count": 2.5},
    {"output_retention_hours": -1},
    {"gpu_mode": "tpu"},
    {"whisper_model_size": "gigantic"},
    {"rate_limit_generate": "lots"},
    {"rate_limit_jobs": "0/minute"},
    {"save_outputs": False, "rate_limit_upload": "5/fortnight"},
]


async def test_bad_changes_are_400_and_change_nothing(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        before = (await client.get("/config")).json()
        for change in BAD_CHANGES:
            response = await client.put("/config", json=change)
            assert response.status_code == 400, (change, response.text)
            assert response.json()["error_code"] == "VALIDATION_ERROR"
            assert response.json()["error"]["param"] in change
        assert (await client.get("/config")).json() == before
    async with app_factory() as client:  # and nothing was saved either
        assert (await client.get("/config")).json() == before


async def test_bodies_that_are_not_objects_are_400(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        assert (await client.put("/config", json=[1])).status_code == 400
        not_json = await client.put("/config", content=b"{oops", headers={"content-type": "application/json"})
        assert not_json.status_code == 400


async def test_changes_persist_across_restarts(app_factory: AppFactory) -> None:
    changes = {
        "save_outputs": False,
        "output_retention_hours": 2.5,
        "torch_compile_enabled": True,
        "rate_limit_generate": "7/minute",
        "worker_count": 1,
    }
    async with app_factory() as client:
        response = await client.put("/config", json=changes)
        assert set(response.json()["restart_required"]) == {"torch_compile_enabled", "worker_count"}
        health = (await client.get("/health")).json()
        assert health["worker_count"] == 2  # the running pool keeps its size until the restart
    async with app_factory() as client:
        config = (await client.get("/config")).json()
        assert {key: config[key] for key in changes} == changes
        assert (await client.get("/health")).json()["worker_count"] == 1


async def test_live_changes_apply_at_once(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        assert "x-ratelimit-limit" not in (await client.get("/jobs")).headers
        await client.put("/config", json={"rate_limit_enabled": True, "rate_limit_jobs": "4/minute"})
        response = await client.get("/jobs")
        assert response.headers["x-ratelimit-limit"] == "4"


async def test_the_api_key_is_never_returned(app_factory: AppFactory) -> None:
    async with app_factory(api_key="very-secret-key") as client:
        assert (await client.get("/config")).status_code == 401
        auth = {"Authorization": "Bearer very-secret-key"}
        response = await client.get("/config", headers=auth)
        assert response.status_code == 200 and "very-secret-key" not in response.text
        put = await client.put("/config", json={"debug_mode": False}, headers=auth)
        assert "very-secret-key" not in put.text
