"""WS /ws/generate: generation with live progress, and optionally the audio itself, over a WebSocket.

Client -> server (JSON text):
  {"type": "generate", "data": {...the POST /generate fields...}, "request_id": "optional, echoed back"}
  {"type": "cancel", "job_id": "..."}
  {"type": "ping"}
Server -> client:
  {"type": "progress", "job_id", "progress": 0-100, "stage": "queued" | "generating" | "encoding"}
  {"type": "complete", "job_id", "audio_url": "/jobs/<id>/result", "media_type", "duration"}
  {"type": "cancelled", "job_id"}   {"type": "error", "message", "error_code", "job_id"?}   {"type": "pong"}
  With "stream": true in data, binary frames carry the encoded audio as it is made, before "complete";
  one streamed request at a time per connection (the frames carry no job id), any number of others.

Every request is a job: the result stays at audio_url, and a client that disconnects does not stop it.
A malformed message gets an error message; the connection stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from tts_server.api.access import check_rate_limit
from tts_server.api.deps import StateDep
from tts_server.api.generate import generate_options
from tts_server.api.jobs import result_url
from tts_server.api.routes import ApiRoute
from tts_server.errors import Conflict, ErrorCode, InvalidRequest, ServiceError, UpgradeRequired
from tts_server.runtime.jobs.events import AudioDropped, JobAudio, JobEvent, JobFinished, JobProgress, JobWatch
from tts_server.runtime.ops.ratelimit import LimitClass
from tts_server.runtime.ops.tasks import TaskSupervisor
from tts_server.schemas.jobs import WsCancel, WsCancelled, WsComplete, WsError, WsGenerate, WsProgress
from tts_server.state import AppState
from tts_server.store.jobs import JobStatus

router = APIRouter(tags=["jobs"], route_class=ApiRoute)
log = logging.getLogger(__name__)


@router.websocket("/ws/generate")
async def ws_generate(websocket: WebSocket, state: StateDep) -> None:
    """Real-time generation with progress (see the module docstring for the protocol)."""
    await websocket.accept()
    await GenerateSession(websocket, state).run()


@router.get("/ws/generate", include_in_schema=False)
async def ws_generate_over_http() -> None:
    """A browser or curl pointed at the socket's URL: say how to connect rather than 404."""
    raise UpgradeRequired("/ws/generate is a WebSocket endpoint: connect with ws:// (wss:// behind TLS) and send JSON.")


class GenerateSession:
    """One connection: reads requests, and relays each job's events back while the client stays."""

    def __init__(self, websocket: WebSocket, state: AppState) -> None:
        self._ws = websocket
        self._state = state
        self._send_lock = asyncio.Lock()
        self._relays = TaskSupervisor("ws-generate")
        self._watched: set[str] = set()
        self._streaming: str | None = None

    async def run(self) -> None:
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                await self._handle(message)
        except WebSocketDisconnect:
            return
        finally:
            await self._relays.stop()  # only the relays: the jobs keep running

    async def _handle(self, message: Message) -> None:
        payload: Any = None
        try:
            payload = _parse(message)
            if payload.get("type") == "generate":
                await self._generate(payload)
            elif payload.get("type") == "cancel":
                await self._cancel(payload)
            elif payload.get("type") == "ping":
                await self._send_json({"type": "pong"})
            else:
                raise InvalidRequest('Unknown message type; expected "generate", "cancel" or "ping".')
        except ServiceError as exc:
            await self._send_model(WsError(message=exc.message, error_code=exc.code, request_id=_request_id(payload)))
        except ValidationError as exc:
            await self._send_model(
                WsError(message=_describe(exc), error_code=ErrorCode.VALIDATION_ERROR, request_id=_request_id(payload))
            )

    async def _generate(self, payload: dict[str, Any]) -> None:
        request = WsGenerate.model_validate(payload)
        await check_rate_limit(self._ws.scope, self._state.rate_limiter, LimitClass.GENERATE)
        options = generate_options(request.data)
        if request.data.stream:
            if self._streaming is not None:
                raise Conflict(f"Job {self._streaming} is streaming on this connection; one stream at a time.")
            record, watch = await self._state.jobs.run_now(options)
            self._streaming = record.job_id
        else:
            record, queued_watch = await self._state.jobs.submit(options, watch=True)
            assert queued_watch is not None
            watch = queued_watch
        self._watched.add(record.job_id)
        self._relays.spawn(f"relay-{record.job_id}", self._relay(watch, request.request_id))

    async def _cancel(self, payload: dict[str, Any]) -> None:
        request = WsCancel.model_validate(payload)
        record = await self._state.jobs.cancel(request.job_id)
        if record.job_id not in self._watched:  # a watched job's relay reports it
            await self._send_model(WsCancelled(job_id=record.job_id))

    async def _relay(self, watch: JobWatch, request_id: str | None) -> None:
        try:
            async for event in watch.events():
                await self._send_event(event, request_id)
        except Exception as exc:  # the client went away mid-send; the job goes on without it
            log.debug("websocket relay of job %s ended: %s", watch.job_id, exc)
        finally:
            self._state.jobs.unwatch(watch)
            self._watched.discard(watch.job_id)
            if self._streaming == watch.job_id:
                self._streaming = None

    async def _send_event(self, event: JobEvent, request_id: str | None) -> None:
        if isinstance(event, JobAudio):
            async with self._send_lock:
                await self._ws.send_bytes(event.data)
        elif isinstance(event, JobProgress):
            await self._send_model(
                WsProgress(job_id=event.job_id, progress=event.progress, stage=event.stage, request_id=request_id)
            )
        elif isinstance(event, AudioDropped):
            message = "The connection is too slow for streamed audio; the rest is only at audio_url."
            await self._send_model(
                WsError(message=message, error_code="STREAM_OVERFLOW", job_id=event.job_id, request_id=request_id)
            )
        elif isinstance(event, JobFinished):
            await self._send_model(_final_message(event, request_id))

    async def _send_model(self, model: BaseModel) -> None:
        await self._send_json(model.model_dump(mode="json", exclude_none=True))

    async def _send_json(self, data: dict[str, Any]) -> None:
        async with self._send_lock:
            await self._ws.send_text(json.dumps(data, separators=(",", ":")))


def _parse(message: Message) -> dict[str, Any]:
    text = message.get("text")
    if text is None:
        raise InvalidRequest("Binary messages are not understood; send JSON text.")
    try:  # pydantic's parser: strict JSON, so no unpaired surrogates reach the engines (see api/routes.py)
        payload = from_json(text)
    except ValueError as exc:
        raise InvalidRequest(f"The message is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict):
        raise InvalidRequest('The message must be a JSON object with a "type".')
    return payload


def _final_message(event: JobFinished, request_id: str | None) -> BaseModel:
    record = event.record
    if record.status is JobStatus.COMPLETED:
        return WsComplete(
            job_id=record.job_id,
            audio_url=result_url(record.job_id),
            media_type=record.media_type,
            duration=record.audio_seconds,
            request_id=request_id,
        )
    if record.status is JobStatus.CANCELLED:
        return WsCancelled(job_id=record.job_id, request_id=request_id)
    return WsError(
        message=record.error_message or "Generation failed.",
        error_code=record.error_code or ErrorCode.INTERNAL_ERROR,
        job_id=record.job_id,
        request_id=request_id,
    )


def _request_id(payload: Any) -> str | None:
    value = payload.get("request_id") if isinstance(payload, dict) else None
    return value[:64] if isinstance(value, str) else None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "message"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
