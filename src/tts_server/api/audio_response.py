"""Turns an admitted SpeechStream into an HTTP response: whole, chunked, or as SSE events."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tts_server.runtime.speech import SpeechStream

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
    """The whole clip, or None once the client disconnects, which cancels the synthesis at once
    (a long Dia clip would otherwise keep the GPU busy for a listener who is gone)."""
    reader = asyncio.ensure_future(stream.read_all())
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({reader, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, watcher):
            if not task.done():
                task.cancel()
        await asyncio.gather(reader, watcher, return_exceptions=True)
    return reader.result() if not reader.cancelled() and watcher.cancelled() else None


async def _disconnected(request: Request) -> None:
    # The body is already read, so the next message the server delivers is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


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
