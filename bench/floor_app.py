"""The least a speech server can do, for latency_floor.py: a bare ASGI app around the built-in engine.

No framework, no middleware, no validation: read the JSON body, have the engine speak `input`, answer a
WAV. FLOOR_MODE=thread speaks on one thread of this process (the event loop stays free); FLOOR_MODE=inline
speaks on the event loop itself. /health answers {"status": "healthy"} so the bench can wait for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import struct
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from foundation_bench import espeak_engine

from tts_server.engines.base import CancelToken, SynthesisRequest, VoiceSelection

Message = dict[str, Any]
_ENGINE = espeak_engine()
_JOBS: queue.SimpleQueue[tuple[str, asyncio.AbstractEventLoop, asyncio.Future[bytes]]] = queue.SimpleQueue()


def speak(text: str) -> bytes:
    request = SynthesisRequest(text=text, voice=VoiceSelection(voice_id="default", builtin="default"))
    pcm = b"".join(
        np.asarray(chunk.samples, dtype=np.int16).tobytes() for chunk in _ENGINE.synthesize(request, CancelToken())
    )
    rate = 22_050
    head = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        len(pcm),
    )
    return head + pcm


def _speaker() -> None:
    while True:
        text, loop, future = _JOBS.get()
        loop.call_soon_threadsafe(future.set_result, speak(text))


async def speak_on_thread(text: str) -> bytes:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()
    _JOBS.put((text, loop, future))
    return await future


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await respond(send, b"application/json", b'{"status": "healthy"}')
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    text = json.loads(body)["input"]
    audio = await speak_on_thread(text) if os.environ.get("FLOOR_MODE") == "thread" else speak(text)
    await respond(send, b"audio/wav", audio)


async def respond(send: Callable[[Message], Awaitable[None]], content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


threading.Thread(target=_speaker, daemon=True).start()
