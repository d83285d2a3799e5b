"""Dia behind async jobs (/generate?async_mode=true) and the WebSocket, through a real uvicorn server."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import LiveServer
from tests.dia_http.conftest import LONG_TEXT, RATE, SEGMENT_SECONDS, RequestSpy, dia_runner, samples_for
from tests.jobs.conftest import wait_for_status
from tests.support.audio import decode_bytes


@pytest.fixture
async def http(dia_server: LiveServer) -> Any:
    async with httpx.AsyncClient(base_url=dia_server.url, timeout=60) as client:
        yield client


async def test_async_job_completes_and_its_result_decodes(dia_server: LiveServer, http: httpx.AsyncClient) -> None:
    body = {"text": "A queued line for Dia.", "voice_id": "nova", "seed": 3, "response_format": "mp3"}
    with RequestSpy(dia_runner(dia_server.app)) as spy:
        created = await http.post("/generate", params={"async_mode": "true"}, json=body)
        assert created.status_code == 200, created.text
        job_id = created.json()["job_id"]
        finished = await wait_for_status(http, job_id, "completed", "failed")
    assert finished["status"] == "completed", finished
    assert spy.last.sampling.seed == 3 and spy.last.voice.builtin == "nova"
    result = await http.get(f"/jobs/{job_id}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "audio/mpeg"
    decoded = decode_bytes(result.content)
    assert decoded.sample_rate == RATE
    assert decoded.duration == pytest.approx(SEGMENT_SECONDS, abs=0.06)


async def test_websocket_generate_completes(dia_server: LiveServer, http: httpx.AsyncClient) -> None:
    url = dia_server.url.replace("http://", "ws://") + "/ws/generate"
    data = {"text": "Hello over the socket.", "voice_id": "aria", "seed": 4, "temperature": 1.1}
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "generate", "data": data, "request_id": "w1"}))
        messages, frames = await _until_final(ws)
    complete = messages[-1]
    assert complete["type"] == "complete" and complete["request_id"] == "w1", messages
    assert frames == b""
    assert {message["stage"] for message in messages[:-1]} >= {"queued", "generating"}
    audio = await http.get(complete["audio_url"])
    assert audio.status_code == 200
    assert len(decode_bytes(audio.content).samples) == samples_for(1)


async def test_websocket_streams_dia_audio_as_binary_frames(dia_server: LiveServer) -> None:
    url = dia_server.url.replace("http://", "ws://") + "/ws/generate"
    data = {"text": LONG_TEXT, "voice_id": "aria", "stream": True, "response_format": "wav"}
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "generate", "data": data}))
        messages, frames = await _until_final(ws)
    assert messages[-1]["type"] == "complete", messages
    decoded = decode_bytes(frames)
    assert decoded.sample_rate == RATE
    assert decoded.duration == pytest.approx(messages[-1]["duration"], abs=0.05)
    assert decoded.duration > 8 * SEGMENT_SECONDS


async def _until_final(ws: Any) -> tuple[list[dict[str, Any]], bytes]:
    messages: list[dict[str, Any]] = []
    frames = b""
    while True:
        message = await ws.recv()
        if isinstance(message, bytes):
            frames += message
            continue
        messages.append(json.loads(message))
        if messages[-1]["type"] in ("complete", "error", "cancelled"):
            return messages, frames
