"""WS /ws/generate through a real uvicorn server and the `websockets` client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.conftest import LiveServer, make_settings, uvicorn_server
from tests.jobs.conftest import LONG_TEXT, SHORT_TEXT, EngineGate, wait_for_status
from tests.support.audio import decode_bytes

STAGES = ["queued", "generating", "encoding"]


def ws_url(server: LiveServer, query: str = "") -> str:
    return server.url.replace("http://", "ws://") + "/ws/generate" + query


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        yield client


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive_json(ws: ClientConnection) -> dict[str, Any]:
    message = await ws.recv(decode=False)
    assert isinstance(message, bytes)
    body: dict[str, Any] = json.loads(message)
    return body


async def until_final(ws: ClientConnection) -> tuple[list[dict[str, Any]], bytes]:
    """Messages of one request up to its complete/error/cancelled message, and the binary frames."""
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


def assert_progress_in_order(messages: list[dict[str, Any]]) -> None:
    progress = [m for m in messages if m["type"] == "progress"]
    assert progress, messages
    values = [m["progress"] for m in progress]
    assert values == sorted(values) and all(0 <= value <= 100 for value in values)
    stages = [STAGES.index(m["stage"]) for m in progress]
    assert stages == sorted(stages)


async def test_progress_messages_in_order_end_in_complete(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    async with connect(ws_url(live_server)) as ws:
        await send(ws, {"type": "generate", "data": {"text": LONG_TEXT, "voice_id": "nova"}, "request_id": "r1"})
        messages, frames = await until_final(ws)
    assert frames == b""
    assert messages[0] == {
        "type": "progress",
        "job_id": messages[0]["job_id"],
        "progress": 0,
        "stage": "queued",
        "request_id": "r1",
    }
    assert {m["stage"] for m in messages[:-1]} >= {"queued", "generating", "encoding"}
    assert_progress_in_order(messages[:-1])
    complete = messages[-1]
    assert complete["type"] == "complete" and complete["request_id"] == "r1"
    assert complete["audio_url"] == f"/jobs/{complete['job_id']}/result"
    audio = await http.get(complete["audio_url"])
    assert audio.headers["content-type"] == "audio/wav"
    assert decode_bytes(audio.content).duration == pytest.approx(complete["duration"], abs=0.1)


async def test_several_requests_on_one_connection(live_server: LiveServer) -> None:
    async with connect(ws_url(live_server)) as ws:
        for name in ("a", "b", "c"):
            await send(ws, {"type": "generate", "data": {"text": f"Request {name}."}, "request_id": name})
        finals: dict[str, dict[str, Any]] = {}
        while len(finals) < 3:
            message = await receive_json(ws)
            if message["type"] != "progress":
                finals[message["request_id"]] = message
    assert {m["type"] for m in finals.values()} == {"complete"}
    assert len({m["job_id"] for m in finals.values()}) == 3


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
async def test_stream_true_sends_audio_frames_then_complete(
    live_server: LiveServer, http: httpx.AsyncClient, fmt: str
) -> None:
    async with connect(ws_url(live_server)) as ws:
        await send(ws, {"type": "generate", "data": {"text": LONG_TEXT, "stream": True, "response_format": fmt}})
        messages, frames = await until_final(ws)
    complete = messages[-1]
    assert complete["type"] == "complete"
    assert_progress_in_order(messages[:-1])
    streamed = decode_bytes(frames)
    assert streamed.duration > 10
    stored = decode_bytes((await http.get(complete["audio_url"])).content)
    assert stored.duration == pytest.approx(streamed.duration, abs=0.1)


async def test_malformed_messages_get_errors_and_the_connection_stays(live_server: LiveServer) -> None:
    bad: list[str | bytes] = [
        "not json",
        b"\x00\x01binary",
        "[1, 2]",
        json.dumps({"type": "dance"}),
        json.dumps({"type": "generate", "data": {}}),
        json.dumps({"type": "generate", "data": {"text": "hi", "speed": 99}}),
        '{"type": "generate", "data": {"text": "hi \\ud800"}}',  # an unpaired surrogate: no engine can speak it
        json.dumps({"type": "generate", "data": {"text": "hi", "voice_id": "nobody"}}),
        json.dumps({"type": "cancel", "job_id": "no-such-job"}),
    ]
    async with connect(ws_url(live_server)) as ws:
        codes = []
        for message in bad:
            await ws.send(message)
            reply = await receive_json(ws)
            assert reply["type"] == "error" and reply["message"], reply
            codes.append(reply["error_code"])
        await send(ws, {"type": "ping"})
        assert await receive_json(ws) == {"type": "pong"}
        await send(ws, {"type": "generate", "data": {"text": SHORT_TEXT}})
        messages, _ = await until_final(ws)
    assert codes[:7] == ["VALIDATION_ERROR"] * 7
    assert codes[7:] == ["INVALID_VOICE_ID", "NOT_FOUND"]
    assert messages[-1]["type"] == "complete"


async def test_cancel_over_the_socket(live_server: LiveServer, http: httpx.AsyncClient) -> None:
    with EngineGate(live_server.app.state.tts.engines.default) as gate:
        async with connect(ws_url(live_server)) as ws:
            await send(ws, {"type": "generate", "data": {"text": LONG_TEXT}, "request_id": "long"})
            job_id = (await receive_json(ws))["job_id"]
            await gate.wait_held()
            await send(ws, {"type": "cancel", "job_id": job_id})
            messages, _ = await until_final(ws)
    assert messages[-1] == {"type": "cancelled", "job_id": job_id, "request_id": "long"}
    assert (await http.get(f"/jobs/{job_id}")).json()["status"] == "cancelled"


async def test_a_client_that_disconnects_does_not_kill_its_job(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    with EngineGate(live_server.app.state.tts.engines.default) as gate:
        async with connect(ws_url(live_server)) as ws:
            await send(ws, {"type": "generate", "data": {"text": LONG_TEXT, "stream": True}})
            job_id = (await receive_json(ws))["job_id"]
            await gate.wait_held()
        gate.release()
        job = await wait_for_status(http, job_id, "completed", "failed", "cancelled")
    assert job["status"] == "completed"
    assert decode_bytes((await http.get(f"/jobs/{job_id}/result")).content).duration > 10


async def test_one_stream_at_a_time_per_connection(live_server: LiveServer) -> None:
    with EngineGate(live_server.app.state.tts.engines.default) as gate:
        async with connect(ws_url(live_server)) as ws:
            await send(ws, {"type": "generate", "data": {"text": LONG_TEXT, "stream": True}})
            job_id = (await receive_json(ws))["job_id"]
            await gate.wait_held()
            await send(ws, {"type": "generate", "data": {"text": SHORT_TEXT, "stream": True}, "request_id": "2nd"})
            refusal: dict[str, Any] = {"type": "progress"}
            while refusal["type"] == "progress":  # skip the first stream's frames and progress
                reply = await ws.recv()
                refusal = {"type": "progress"} if isinstance(reply, bytes) else json.loads(reply)
            assert refusal["type"] == "error" and refusal["error_code"] == "CONFLICT"
            assert refusal["request_id"] == "2nd"
            await send(ws, {"type": "cancel", "job_id": job_id})
            messages, _ = await until_final(ws)
    assert messages[-1]["type"] == "cancelled"


async def test_socket_needs_the_api_key_when_one_is_set(tmp_path: Path) -> None:
    with uvicorn_server(make_settings(tmp_path, api_key="sesame")) as server:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(server)):
                pass
        assert refused.value.response.status_code == 401
        async with connect(ws_url(server, "?api_key=sesame")) as ws:
            await send(ws, {"type": "ping"})
            assert await receive_json(ws) == {"type": "pong"}
        async with connect(ws_url(server), additional_headers={"Authorization": "Bearer sesame"}) as ws:
            await send(ws, {"type": "ping"})
            assert await receive_json(ws) == {"type": "pong"}


async def test_generate_messages_are_rate_limited(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, rate_limit_enabled=True, rate_limit_generate="2/minute")
    with uvicorn_server(settings) as server:
        async with connect(ws_url(server)) as ws:
            for _ in range(2):
                await send(ws, {"type": "generate", "data": {"text": "Hi."}})
                messages, _ = await until_final(ws)
                assert messages[-1]["type"] == "complete"
            await send(ws, {"type": "generate", "data": {"text": "Hi."}})
            refusal = await receive_json(ws)
    assert refusal["type"] == "error" and refusal["error_code"] == "RATE_LIMITED"


async def test_plain_http_to_the_socket_says_how_to_connect(http: httpx.AsyncClient) -> None:
    response = await http.get("/ws/generate")
    assert response.status_code == 426 and response.headers["upgrade"] == "websocket"
    body = response.json()
    assert body["error_code"] == "UPGRADE_REQUIRED" and "ws://" in body["detail"]
