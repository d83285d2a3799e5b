"""Voice-library fixtures: the real app on a temp data dir, with a handle on its state (for the
transcriber seam), and helpers that upload through each API view."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import make_settings, wait_until_ready
from tests.store.conftest import snapshot, voice_wav, wav_bytes
from tests.support.audio import decode_bytes, rms
from tts_server.app import create_app
from tts_server.state import AppState

__all__ = ["snapshot", "voice_wav", "wav_bytes"]

SENTENCE = "The quick brown fox jumps over the lazy dog."


@dataclass
class RunningApp:
    client: httpx.AsyncClient
    state: AppState


RunApp = Callable[..., "contextlib.AbstractAsyncContextManager[RunningApp]"]


@pytest.fixture
def run_app(data_dir: Path) -> RunApp:
    """`async with run_app(**settings) as app:` the app on `data_dir`, its client and its AppState."""

    @contextlib.asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[RunningApp]:
        app = create_app(make_settings(data_dir, **overrides))
        async with app.router.lifespan_context(app):
            await wait_until_ready(app)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
                yield RunningApp(client, app.state.tts)

    return running


async def upload_prompt(
    client: httpx.AsyncClient,
    prompt_id: str,
    audio: bytes,
    *,
    transcript: str | None = None,
    prefix: str = "",
    filename: str = "voice.wav",
) -> httpx.Response:
    data = {"prompt_id": prompt_id} | ({"transcript": transcript} if transcript is not None else {})
    files = {"audio_file": (filename, audio, "application/octet-stream")}
    return await client.post(f"{prefix}/audio_prompts/upload", data=data, files=files)


async def add_reference(
    client: httpx.AsyncClient, voice_id: str, audio: bytes, *, text: str | None = None, overwrite: bool | None = None
) -> httpx.Response:
    data: dict[str, str] = {"id": voice_id}
    if text is not None:
        data["text"] = text
    if overwrite is not None:
        data["overwrite"] = "true" if overwrite else "false"
    return await client.post("/v1/references/add", data=data, files={"audio": ("ref.wav", audio, "audio/wav")})


async def speak_wav(client: httpx.AsyncClient, voice: str, *, model: str = "tts-1", text: str = SENTENCE) -> Any:
    """POST /v1/audio/speech; the decoded audio, after checking it is speech-like."""
    response = await client.post(
        "/v1/audio/speech", json={"model": model, "input": text, "voice": voice, "response_format": "wav"}
    )
    assert response.status_code == 200, response.text
    return assert_speech(response.content)


def assert_speech(content: bytes) -> Any:
    decoded = decode_bytes(content)
    words = len(SENTENCE.split())
    assert rms(decoded.samples) > 0.01
    assert words / 6.0 < decoded.duration < words / 1.0 + 1.5
    return decoded


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code
    assert body["error"]["code"] == code
    assert body["detail"]
    return body


def tone_voice(f0: float, seconds: float = 3.0, rate: int = 24_000) -> bytes:
    """A voice-like harmonic tone with a slow vibrato and pauses, so it is clearly pitched and not silent."""
    t = np.arange(round(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = (np.sin(2 * np.pi * 1.5 * t) > -0.6).astype(np.float64)
    samples = (0.3 * wave * envelope / np.abs(wave).max()).astype(np.float32)
    return wav_bytes(samples, rate)
