"""S1-mini behind async jobs (/generate?async_mode=true) and the WebSocket, through a real uvicorn server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import LiveServer
from tests.jobs.conftest import wait_for_status
from tests.s1_http.conftest import CHUNK_SECONDS, RATE, RequestSpy, s1_runner, samples_for
from tests.support.audio import decode_bytes
from tts_server.engines.s1.text import chunk_text


@pytest.fixture
async def http(s1_server: LiveServer) -> Any:
    async with httpx.AsyncClient(base_url=s1_server.url, timeout=120) as client:
        yield client


async def test_async_job_completes_and_its_result_decodes(s1_server: LiveServer, http: httpx.AsyncClient) -> None:
    body = {"text": "A queued line for S1-mini.", "voice_id": "nova", "seed": 3, "response_format": "mp3"}
    with RequestSpy(s1_runner(s1_server.app)) as spy:
        created = await http.post("/generate", params={"async_mode": "true"}, json=body)
        assert created.status_code == 200, created.text
        finished = await wait_for_status(http, created.json()["job_id"], "completed", "failed")
    assert finished["status"] == "completed", finished
    assert spy.last.sampling.seed == 3 and spy.last.voice.builtin == "nova"
    result = await http.get(f"/jobs/{created.json()['job_id']}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "audio/mpeg"
    decoded = decode_bytes(result.content)
    assert decoded.sample_rate == RATE and decoded.duration == pytest.approx(CHUNK_SECONDS, abs=0.06)


async def test_websocket_streams_s1_audio_as_binary_frames(s1_server: LiveServer) -> None:
    url = s1_server.url.replace("http://", "ws://") + "/ws/generate"
    text = " ".join(
        f"This is sentence {w} of the text, with quite a few words in it." for w in ("one", "two", "three", "four")
    )
    chunks = len(chunk_text(text, None))  # the default chunk_length (200): two sentences a chunk
    assert chunks == 2
    data = {"text": text, "voice_id": "aria", "stream": True, "response_format": "wav", "seed": 2}
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "generate", "data": data, "request_id": "w1"}))
        messages: list[dict[str, Any]] = []
        frames = b""
        while not messages or messages[-1]["type"] not in ("complete", "error", "cancelled"):
            message = await ws.recv()
            if isinstance(message, bytes):
                frames += message
            else:
                messages.append(json.loads(message))
    assert messages[-1]["type"] == "complete" and messages[-1]["request_id"] == "w1", messages
    decoded = decode_bytes(frames)
    assert decoded.sample_rate == RATE
    assert len(decoded.samples) == samples_for(chunks)
