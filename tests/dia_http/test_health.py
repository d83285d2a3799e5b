"""/health and admission while Dia loads, once it is ready, and when it cannot load."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until_ready
from tests.dia_http.conftest import RATE, DiaAppFactory, dia_settings
from tests.engines.dia.tiny_models import TinyDiaFolders
from tests.support.audio import decode_bytes
from tts_server.app import create_app
from tts_server.engines.dia import loading as dia_loading
from tts_server.engines.dia.loading import DiaBundle

SPEECH = {"input": "Are you there?"}


@contextlib.asynccontextmanager
async def started_app(data_dir: Path, folders: TinyDiaFolders, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app right after its lifespan started, without waiting for engines to load."""
    app = create_app(dia_settings(data_dir, folders, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            yield client
            await wait_until_ready(app)  # never stop mid-load: the worker thread would outlive the test


async def _health(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health")
    return response.status_code, response.json()


async def test_loading_then_healthy(
    data_dir: Path, tiny_dia_folders: TinyDiaFolders, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def slow_load(*args: Any, **kwargs: Any) -> DiaBundle:
        release.wait(30)  # holds Dia in "loading" until the test has looked
        return dia_loading.load_dia(*args, **kwargs)

    monkeypatch.setattr("tts_server.runtime.runners.dia.load_dia", slow_load)
    async with started_app(data_dir, tiny_dia_folders) as client:
        try:
            code, body = await _health(client)
            assert code == 200 and body["status"] == "loading"
            assert body["provider"] == "dia" and body["model_loaded"] is False
            for path, payload in (("/v1/audio/speech", SPEECH), ("/generate", {"text": "Are you there?"})):
                refused = await client.post(path, json=payload)
                assert refused.status_code == 503
                assert refused.json()["error_code"] == "MODEL_NOT_LOADED"
                assert int(refused.headers["retry-after"]) > 0
        finally:
            release.set()
        body = await _wait_for_status(client, "healthy")
        assert body["provider"] == "dia" and body["device"] == "cpu"
        assert body["model_loaded"] is True and body["streaming_enabled"] is True
        spoken = await client.post("/v1/audio/speech", json=SPEECH)
        assert spoken.status_code == 200 and decode_bytes(spoken.content).sample_rate == RATE


async def test_auto_finds_a_dia_folder_and_serves_it(dia_app_factory: DiaAppFactory) -> None:
    async with dia_app_factory(provider="auto") as dia:
        code, body = await _health(dia.client)
    assert code == 200 and body["status"] == "healthy" and body["provider"] == "dia"
    assert {engine["id"]: engine["state"] for engine in body["engines"]} == {"dia": "ready", "espeak": "ready"}


async def test_auto_falls_back_to_espeak_when_dia_fails_to_load(
    dia_app_factory: DiaAppFactory, tiny_dia_folders: TinyDiaFolders, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken-dia"
    broken.mkdir()
    shutil.copy(tiny_dia_folders.model / "config.json", broken / "config.json")
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    caplog.set_level(logging.ERROR)
    async with dia_app_factory(provider="auto", dia_model=str(broken)) as dia:
        code, body = await _health(dia.client)
        spoken = await dia.client.post("/v1/audio/speech", json=SPEECH)
        asked_for_dia = await dia.client.post("/v1/audio/speech", json={**SPEECH, "model": "dia"})
    assert code == 200 and body["status"] == "degraded"
    assert body["provider"] == "espeak" and body["model_loaded"] is True
    dia_health = next(engine for engine in body["engines"] if engine["id"] == "dia")
    assert dia_health["state"] == "failed" and str(broken) in dia_health["detail"]
    assert spoken.status_code == 200 and spoken.headers["x-tts-engine"] == "espeak"
    assert asked_for_dia.status_code == 503 and asked_for_dia.json()["error_code"] == "MODEL_NOT_LOADED"
    assert str(broken) in asked_for_dia.json()["detail"]
    assert "retry-after" not in asked_for_dia.headers  # failed, not loading: retrying will not help
    assert any(str(broken) in record.getMessage() for record in caplog.records)


async def test_dia_provider_with_missing_weights_is_unhealthy_and_says_how_to_get_them(
    dia_app_factory: DiaAppFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-dia"
    caplog.set_level(logging.ERROR)
    async with dia_app_factory(dia_model=str(missing)) as dia:
        code, body = await _health(dia.client)
        refused = await dia.client.post("/v1/audio/speech", json=SPEECH)
    assert code == 503 and body["status"] == "unhealthy" and body["provider"] == "dia"
    detail = next(engine for engine in body["engines"] if engine["id"] == "dia")["detail"]
    for words in (str(missing), "TTS_DIA_MODEL", "hf download nari-labs/Dia-1.6B-0626"):
        assert words in detail
    assert refused.status_code == 503 and refused.json()["error_code"] == "MODEL_NOT_LOADED"
    logged = [record.getMessage() for record in caplog.records if str(missing) in record.getMessage()]
    assert logged and "hf download" in logged[0]


async def _wait_for_status(client: httpx.AsyncClient, status: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _, body = await _health(client)
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"/health stayed {body['status']}"
        await asyncio.sleep(0.02)
