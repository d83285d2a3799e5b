"""Through a real uvicorn server: true streaming, client disconnects, and the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from openai import OpenAI

from tests.conftest import LiveServer
from tests.support.audio import decode_bytes, decode_pcm
from tts_server.engines.base import AudioChunk, SynthesisRequest

LONG_TEXT = " ".join(f"This is sentence number {n} of a long streamed reading." for n in range(1, 41))


class HeldBackLastChunk:
    """Wraps the engine so its last chunk is only produced after the client has seen audio bytes.
    A server that buffers the whole clip before sending would never release it, and the test times out."""

    def __init__(self, server: LiveServer) -> None:
        self.runner = server.app.state.tts.engines.default
        self.original = self.runner.synthesize
        self.client_saw_bytes = threading.Event()
        self.chunks_before_release = 0

    def __enter__(self) -> HeldBackLastChunk:
        self.runner.synthesize = self._synthesize
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.synthesize = self.original

    async def _synthesize(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        chunks = [chunk async for chunk in self.original(request)]
        for chunk in chunks[:-1]:
            self.chunks_before_release += 1
            yield chunk
        await asyncio.to_thread(self.client_saw_bytes.wait, 20)
        yield chunks[-1]


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "aac", "flac", "pcm"])
def test_stream_sends_bytes_before_last_chunk_exists(live_server: LiveServer, fmt: str) -> None:
    with (
        HeldBackLastChunk(live_server) as hook,
        httpx.stream(
            "POST",
            f"{live_server.url}/v1/audio/speech",
            json={"input": LONG_TEXT, "response_format": fmt, "stream": True},
            timeout=30,
        ) as response,
    ):
        assert response.status_code == 200
        parts: list[bytes] = []
        for part in response.iter_bytes():
            if part:
                hook.client_saw_bytes.set()
            parts.append(part)
    assert hook.client_saw_bytes.is_set()
    audio = b"".join(parts)
    decoded = decode_pcm(audio) if fmt == "pcm" else decode_bytes(audio)
    assert decoded.duration > 20


def test_client_disconnect_cancels_the_synthesis(live_server: LiveServer) -> None:
    runner = live_server.app.state.tts.engines.default
    with httpx.stream(
        "POST",
        f"{live_server.url}/v1/audio/speech",
        json={"input": LONG_TEXT * 3, "response_format": "pcm", "stream": True},
        timeout=30,
    ) as response:
        next(response.iter_bytes())
    for _ in range(200):
        if runner.load().active == 0:
            break
        threading.Event().wait(0.02)
    assert runner.load().active == 0
    follow_up = httpx.post(f"{live_server.url}/v1/audio/speech", json={"input": "Still here."}, timeout=30)
    assert follow_up.status_code == 200


@pytest.fixture
def openai_client(live_server: LiveServer) -> Iterator[OpenAI]:
    client = OpenAI(base_url=f"{live_server.url}/v1", api_key="sk-anything")
    yield client
    client.close()


def test_openai_sdk_create(openai_client: OpenAI) -> None:
    response = openai_client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello from the OpenAI SDK.", response_format="mp3"
    )
    decoded = decode_bytes(response.content)
    assert decoded.codec.startswith("mp3") and decoded.duration > 0.8


def test_openai_sdk_streaming_response(openai_client: OpenAI) -> None:
    with openai_client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input=LONG_TEXT,
        response_format="pcm",
        instructions="Speak calmly.",
    ) as response:
        audio = b"".join(response.iter_bytes(chunk_size=4096))
    assert decode_pcm(audio).duration > 20


def test_openai_sdk_reads_error_envelope(openai_client: OpenAI) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.audio.speech.create(model="tts-1", voice="nobody", input="hi")
    assert "nobody" in str(caught.value)
    assert caught.value.code == "INVALID_VOICE_ID"


class NeverFinishes:
    """An engine stream that yields one chunk, then waits forever; records when the server closes it."""

    def __init__(self, server: LiveServer) -> None:
        self.runner = server.app.state.tts.engines.default
        self.original = self.runner.synthesize
        self.closed = threading.Event()

    def __enter__(self) -> NeverFinishes:
        self.runner.synthesize = self._synthesize
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.synthesize = self.original

    async def _synthesize(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        try:
            async for chunk in self.original(request):
                yield chunk
                break
            await asyncio.Event().wait()
        finally:
            self.closed.set()


def test_whole_clip_request_is_cancelled_when_the_client_leaves(live_server: LiveServer) -> None:
    with NeverFinishes(live_server) as hook:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{live_server.url}/v1/audio/speech", json={"input": "Hello there."}, timeout=1.0)
        assert hook.closed.wait(20), "the synthesis kept running after the client disconnected"
