"""OpenAI's POST /v1/audio/transcriptions through the real app and a real (tiny) Whisper checkpoint."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import pytest_asyncio

from tests.asr.conftest import SKIP_REASON
from tests.conftest import AppFactory, make_settings, running_app
from tests.store.conftest import wav_bytes
from tests.support.signals import harmonic_tone
from tests.whisper.conftest import HEARD, WhisperApp
from tts_server.audio.encode import AudioFormat, encode_audio

pytest.importorskip("whisper", reason=SKIP_REASON)

# One app serves the module's tests (they change nothing on it); those that need other settings start their own.
pytestmark = pytest.mark.asyncio(loop_scope="module")

SECONDS = 2.0
CLIP = wav_bytes(harmonic_tone(140.0, SECONDS, 22_050), 22_050)
SRT_CUE = re.compile(r"(\d+)\n(\d{2}):(\d{2}):(\d{2}),(\d{3}) --> (\d{2}):(\d{2}):(\d{2}),(\d{3})\n(.+)")
VTT_CUE = re.compile(r"(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})\n(.+)")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hello_client(
    hello_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the "hello" checkpoint, shared by the module."""
    settings = make_settings(tmp_path_factory.mktemp("transcriptions"), whisper_model=str(hello_checkpoint), workers=1)
    async with running_app(settings) as client:
        yield client


async def transcribe(client: httpx.AsyncClient, audio: bytes = CLIP, **fields: Any) -> httpx.Response:
    return await client.post(
        "/v1/audio/transcriptions",
        data={"model": "whisper-1", **fields},
        files={"file": ("speech.wav", audio, "audio/wav")},
    )


def seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert (body["error_code"], body["error"]["code"]) == (code, code)
    return body


async def test_json(hello_client: httpx.AsyncClient) -> None:
    response = await transcribe(hello_client)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"text": HEARD}


async def test_text(hello_client: httpx.AsyncClient) -> None:
    response = await transcribe(hello_client, response_format="text")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip() == HEARD


async def test_verbose_json(hello_client: httpx.AsyncClient) -> None:
    body = (await transcribe(hello_client, response_format="verbose_json")).json()
    assert (body["task"], body["language"], body["text"]) == ("transcribe", "english", HEARD)
    assert body["duration"] == pytest.approx(SECONDS, abs=0.01)
    (segment,) = body["segments"]
    assert segment["text"] == HEARD
    assert 0 <= segment["start"] < segment["end"] <= body["duration"]


async def test_srt(hello_client: httpx.AsyncClient) -> None:
    response = await transcribe(hello_client, response_format="srt")
    assert response.headers["content-type"].startswith("application/x-subrip")
    blocks = [block for block in response.text.split("\n\n") if block.strip()]
    assert len(blocks) == 1
    cue = SRT_CUE.fullmatch(blocks[0])
    assert cue is not None, response.text
    assert cue[1] == "1"
    start, end = seconds(*cue.groups()[1:5]), seconds(*cue.groups()[5:9])
    assert 0 <= start < end <= SECONDS
    assert cue[10] == HEARD


async def test_vtt(hello_client: httpx.AsyncClient) -> None:
    response = await transcribe(hello_client, response_format="vtt")
    assert response.headers["content-type"].startswith("text/vtt")
    header, *blocks = [block for block in response.text.split("\n\n") if block.strip()]
    assert header == "WEBVTT"
    (block,) = blocks
    cue = VTT_CUE.fullmatch(block)
    assert cue is not None, response.text
    start, end = seconds(*cue.groups()[0:4]), seconds(*cue.groups()[4:8])
    assert 0 <= start < end <= SECONDS
    assert cue[9] == HEARD


async def test_compressed_upload_language_prompt_and_size_name(hello_client: httpx.AsyncClient) -> None:
    mp3 = encode_audio(harmonic_tone(140.0, SECONDS, 24_000), 24_000, AudioFormat.MP3)
    response = await transcribe(
        hello_client,
        mp3,
        model="base",
        language="de",
        prompt="Hallo.",
        temperature="0.4",
        response_format="verbose_json",
    )
    assert response.status_code == 200, response.text
    assert (response.json()["language"], response.json()["text"]) == ("german", HEARD)


async def test_openai_sdk(hello_client: httpx.AsyncClient) -> None:
    # openai 3 is typed against httpx2's client, but drives an httpx one (here: the app's ASGI transport) alike.
    sdk = openai.AsyncOpenAI(base_url="http://testserver/v1", api_key="any", http_client=hello_client)  # type: ignore[arg-type]
    text = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", CLIP), response_format="text")
    assert text.strip() == HEARD
    result = await sdk.audio.transcriptions.create(model="whisper-1", file=("a.wav", CLIP))
    assert result.text == HEARD


# --- errors -------------------------------------------------------------------------------------------


async def test_audio_that_cannot_be_decoded_is_400(hello_client: httpx.AsyncClient) -> None:
    body = assert_error(await transcribe(hello_client, b"not audio at all" * 100), 400, "AUDIO_PROCESSING_ERROR")
    assert body["error"]["type"] == "invalid_request_error"
    assert_error(await transcribe(hello_client, b""), 400, "AUDIO_PROCESSING_ERROR")


async def test_bad_fields_are_refused(hello_client: httpx.AsyncClient) -> None:
    assert (
        assert_error(await transcribe(hello_client, model="gpt-9"), 400, "INVALID_MODEL")["error"]["param"] == "model"
    )
    fmt = assert_error(await transcribe(hello_client, response_format="docx"), 400, "INVALID_FORMAT")
    assert fmt["error"]["param"] == "response_format"
    assert_error(await transcribe(hello_client, language="klingon"), 400, "VALIDATION_ERROR")
    assert_error(await transcribe(hello_client, temperature="1.5"), 422, "VALIDATION_ERROR")
    missing_file = await hello_client.post("/v1/audio/transcriptions", data={"model": "whisper-1"})
    assert_error(missing_file, 422, "VALIDATION_ERROR")


async def test_upload_over_the_limit_is_413(whisper_app: WhisperApp) -> None:
    async with whisper_app(max_upload_mb=0.05) as client:  # 50 KiB; the clip is ~86 KiB
        assert len(CLIP) > 0.05 * 1024 * 1024
        assert_error(await transcribe(client), 413, "PAYLOAD_TOO_LARGE")


async def test_without_a_model_it_is_503(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        body = assert_error(await transcribe(client), 503, "WHISPER_NOT_AVAILABLE")
        assert "TTS_WHISPER_MODEL" in body["detail"]
        assert body["error"]["type"] == "server_error"
