"""The Wyoming server as Home Assistant reaches it: the real app with its lifespan, the server on a free port of
TTS_HOST, driven by the `wyoming` package's own AsyncTcpClient."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from numpy.typing import NDArray
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info, TtsProgram
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.conftest import make_settings, wait_until_ready
from tts_server.app import create_app
from tts_server.settings import Settings

# A safety net against a server that never answers, not a speed requirement: the test fails instead of hanging.
READ_TIMEOUT = 60.0
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please bring me a glass of cold water.",
    "We will meet at the train station tomorrow morning.",
    "Turn off the lights before you leave the house.",
]


@dataclass
class WyomingApp:
    app: FastAPI
    http: httpx.AsyncClient  # the HTTP API of the same process

    @property
    def port(self) -> int:
        server = self.app.state.tts.wyoming
        assert server is not None, "the Wyoming server is off"
        port: int = server.port
        return port

    def client(self, host: str = "127.0.0.1") -> AsyncTcpClient:
        return AsyncTcpClient(host, self.port, connect_timeout=10, read_timeout=READ_TIMEOUT)


WyomingFactory = Callable[..., "contextlib.AbstractAsyncContextManager[WyomingApp]"]


@contextlib.asynccontextmanager
async def running_wyoming(settings: Settings) -> AsyncIterator[WyomingApp]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await wait_until_ready(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
            yield WyomingApp(app, http)


@pytest.fixture
def wyoming_factory(data_dir: Path) -> WyomingFactory:
    """`async with wyoming_factory(**settings) as served:` the app with its Wyoming server on a free port."""

    def factory(**overrides: Any) -> contextlib.AbstractAsyncContextManager[WyomingApp]:
        return running_wyoming(make_settings(data_dir, **{"wyoming_port": 0, **overrides}))

    return factory


@pytest.fixture
async def served(wyoming_factory: WyomingFactory) -> AsyncIterator[WyomingApp]:
    async with wyoming_factory() as running:
        yield running


@dataclass
class Answer:
    """The events that answered one request, up to the one that ends it."""

    events: list[Event] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    @property
    def start(self) -> AudioStart:
        starts = [AudioStart.from_event(event) for event in self.events if AudioStart.is_type(event.type)]
        assert len(starts) == 1, self.types
        return starts[0]

    @property
    def chunks(self) -> list[AudioChunk]:
        return [AudioChunk.from_event(event) for event in self.events if AudioChunk.is_type(event.type)]

    @property
    def errors(self) -> list[Error]:
        return [Error.from_event(event) for event in self.events if Error.is_type(event.type)]

    @property
    def samples(self) -> NDArray[np.float32]:
        pcm = b"".join(chunk.audio for chunk in self.chunks)
        return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.start.rate


async def read_until(client: AsyncTcpClient, *end_types: str, answer: Answer | None = None) -> Answer:
    """Read events until one of `end_types` (included); a closed connection fails the test."""
    answer = answer or Answer()
    while True:
        event = await client.read_event()
        assert event is not None, f"connection closed after {answer.types}"
        answer.events.append(event)
        if event.type in end_types:
            return answer


async def synthesize(client: AsyncTcpClient, text: str, voice: SynthesizeVoice | None = None) -> Answer:
    await client.write_event(Synthesize(text=text, voice=voice).event())
    return await read_until(client, "audio-stop")


async def describe(client: AsyncTcpClient) -> TtsProgram:
    await client.write_event(Describe().event())
    answer = await read_until(client, "info")
    programs = Info.from_event(answer.events[-1]).tts
    assert len(programs) == 1
    return programs[0]


def assert_pcm_stream(answer: Answer, rate: int) -> None:
    """One audio-start, then 16-bit mono chunks at its rate, whole samples, timestamps rising, audio-stop last."""
    assert answer.types[0] == "audio-start" and answer.types[-1] == "audio-stop", answer.types
    start = answer.start
    assert (start.rate, start.width, start.channels) == (rate, 2, 1)
    chunks = answer.chunks
    assert chunks and all((c.rate, c.width, c.channels) == (rate, 2, 1) for c in chunks)
    assert all(len(c.audio) % 2 == 0 and 0 < len(c.audio) <= 2048 for c in chunks)
    stamps = [c.timestamp for c in chunks]
    assert stamps[0] == 0 and stamps == sorted(stamps)
