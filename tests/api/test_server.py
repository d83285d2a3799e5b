"""Health, listings and OpenAPI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import AppFactory, LiveServer, make_settings
from tts_server.app import create_app
from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.voice_service import VoiceService

HEALTH_FIELDS = {
    "status",
    "provider",
    "models_loaded",
    "model_loaded",
    "device",
    "streaming_enabled",
    "version",
    "gpu_available",
    "gpu_count",
    "worker_count",
    "active_jobs",
    "uptime",
}


async def test_health_has_both_specs_fields(client: httpx.AsyncClient) -> None:
    body = (await client.get("/health")).json()
    assert set(body) >= HEALTH_FIELDS
    assert body["status"] == "healthy"
    assert body["provider"] == "espeak"
    assert body["models_loaded"] is body["model_loaded"] is True
    assert body["device"] == "cpu"
    assert body["worker_count"] == 2


def test_health_answers_head_for_monitors(live_server: LiveServer) -> None:
    response = httpx.head(live_server.url + "/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json" and response.content == b""


async def test_health_answers_while_every_worker_is_busy(app_factory: AppFactory) -> None:
    long_text = "Workers stay busy with this long paragraph of text. " * 75
    async with app_factory(workers=1) as client:
        speech = [asyncio.create_task(client.post("/v1/audio/speech", json={"input": long_text})) for _ in range(3)]
        await asyncio.sleep(0.05)
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["active_jobs"] >= 1
        assert all(r.status_code == 200 for r in await asyncio.gather(*speech))


async def test_voice_listings_carry_ids_and_names(client: httpx.AsyncClient) -> None:
    for path in ("/v1/voices", "/voices", "/v1/audio/voices"):
        voices = (await client.get(path)).json()["voices"]
        ids = {voice["voice_id"] for voice in voices}
        assert {"default", "aria", "atlas", "luna", "kai", "zara", "nova"} <= ids
        assert {
            "alloy",
            "ash",
            "ballad",
            "coral",
            "echo",
            "fable",
            "onyx",
            "sage",
            "shimmer",
            "verse",
            "marin",
            "cedar",
        } <= ids
        assert all(voice["name"] for voice in voices)


async def test_models_list_in_openai_shape(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    ids = {model["id"] for model in body["data"]}
    assert {"espeak", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= ids


async def test_openapi_declares_audio_media_types_and_errors(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    speech = spec["paths"]["/v1/audio/speech"]["post"]["responses"]
    assert {"audio/wav", "audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/pcm"} <= set(
        speech["200"]["content"]
    )
    assert {"400", "401", "422", "500", "503"} <= set(speech)
    assert "/generate" in spec["paths"] and "/health" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200


async def test_health_says_why_dia_is_not_used_in_auto_mode(app_factory: AppFactory, data_dir: Path) -> None:
    async with app_factory(provider="auto", dia_model=str(data_dir / "no-dia-here")) as client:
        body = (await client.get("/health")).json()
    assert body["status"] == "healthy" and body["provider"] == "espeak"
    assert any("no-dia-here" in note for note in body["notes"]), body["notes"]


async def test_a_start_failing_halfway_stops_what_had_started(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def unreadable_library(*_args: object, **_kwargs: object) -> None:
        raise OSError("the voice library cannot be read")

    monkeypatch.setattr(VoiceService, "start", unreadable_library)
    app = create_app(make_settings(data_dir))
    with pytest.raises(OSError, match="voice library cannot be read"):
        async with app.router.lifespan_context(app):
            pass
    # the engines had started before the library: their worker processes are stopped again
    assert [runner.state for runner in app.state.tts.engines] == [RunnerState.STOPPED]
