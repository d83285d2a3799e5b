"""Turns an admitted SpeechStream into an HTTP response: whole, chunked, or as SSE events."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tts_server.runtime.speech import SpeechStream

# A client leaving a shorter clip loses nothing worth stopping for: espeak makes a sentence in milliseconds.
_WATCH_AFTER_S = 0.05
_NO_BUFFERING = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def audio_response(stream: SpeechStream, request: Request, *, streaming: bool) -> Response:
    _share_result(stream, request)
    headers = {"X-TTS-Engine": stream.result.engine_id}
    if streaming:
        return StreamingResponse(stream.chunks(), media_type=stream.media_type, headers={**headers, **_NO_BUFFERING})
    body = await _read_unless_client_leaves(stream, request)
    if body is None:
        return Response(status_code=499)  # nobody is listening; the synthesis was cancelled
    headers["X-Audio-Duration"] = f"{stream.result.audio_seconds:.3f}"
    return Response(body, media_type=stream.media_type, headers=headers)


def _share_result(stream: SpeechStream, request: Request) -> None:
    """The request metrics read the audio made from here once the response is over, streamed or not."""
    request.state.speech_result = stream.result


async def _read_unless_client_leaves(stream: SpeechStream, request: Request) -> bytes | None:
    """The whole clip, or None once the client disconnects, which cancels the synthesis at once (a long
    Dia clip would otherwise keep the GPU busy for a listener who is gone).

    The clip is read in this task; a watcher task, started only if the clip takes longer than
    _WATCH_AFTER_S, cancels it when the client leaves. A watcher per request (two tasks and a wait)
    cost ~40 us, a tenth of the server's whole share of a one-sentence request."""
    reader = asyncio.current_task()
    assert reader is not None
    watch = _DisconnectWatch(request, reader)
    timer = asyncio.get_running_loop().call_later(_WATCH_AFTER_S, watch.start)
    try:
        return await stream.read_all()
    except asyncio.CancelledError:
        if watch.client_left and reader.uncancel() == 0:
            return None  # cancelled by the watcher alone, not by a server shutting down
        raise
    finally:
        timer.cancel()
        watch.stop()


class _DisconnectWatch:
    def __init__(self, request: Request, reader: asyncio.Task[Any]) -> None:
        self._request, self._reader = request, reader
        self._task: asyncio.Task[None] | None = None
        self.client_left = False

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        # The body is already read, so the next message the server delivers is the disconnect.
        while (await self._request.receive())["type"] != "http.disconnect":
            pass
        self.client_left = True
        self._reader.cancel()


def sse_response(stream: SpeechStream, request: Request, input_text: str) -> StreamingResponse:
    """OpenAI's `stream_format: "sse"`: base64 audio in speech.audio.delta events, then speech.audio.done."""
    _share_result(stream, request)
    return StreamingResponse(
        _sse_events(stream, input_text),
        media_type="text/event-stream",
        headers={"X-TTS-Engine": stream.result.engine_id, **_NO_BUFFERING},
    )


async def _sse_events(stream: SpeechStream, input_text: str) -> AsyncIterator[bytes]:
    async for data in stream.chunks():
        yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})
    # Token counts are approximations for engines without tokens: characters in, audio frames out.
    input_tokens = max(1, len(input_text) // 4)
    output_tokens = round(stream.result.audio_seconds * 50)
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}
    yield _event({"type": "speech.audio.done", "usage": usage})


def _event(payload: dict[str, object]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
