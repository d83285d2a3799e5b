"""S1-mini behind every endpoint family: the real app with TTS_PROVIDER=s1-mini on the tiny checkpoint (model
and codec, official file formats) loaded offline through the real loading code. Random weights rarely end a
chunk early, so each chunk runs to TTS_S1_MAX_NEW_TOKENS frames: lengths are exact, and the tests check that
every route reaches S1-mini with the right request and brings its audio back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

pytest.importorskip("torch")
pytest.importorskip("tiktoken")

import torch

from tests.conftest import LiveServer, make_settings, uvicorn_server, wait_until_ready
from tests.engines.s1.conftest import TINY
from tts_server.app import create_app
from tts_server.engines.base import SynthesisRequest
from tts_server.runtime.runners.s1 import S1Runner
from tts_server.settings import Settings

FRAMES = 12  # TTS_S1_MAX_NEW_TOKENS here: every text chunk is 12 codec frames (~0.56 s)
HOP = 2048  # samples per codec frame
RATE = 44_100
FADE = round(RATE * 0.04)  # samples two crossfaded chunks share
CHUNK_SECONDS = FRAMES * HOP / RATE


@pytest.fixture(scope="package", autouse=True)
def offline_single_threaded() -> Iterator[None]:
    """No hub, and one torch thread: tiny models gain nothing from more, and a busy machine punishes them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(previous_threads)


def s1_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "provider": "s1-mini",
        "s1_model": str(TINY),
        "device": "cpu",
        "s1_max_new_tokens": FRAMES,
        "s1_max_batch": 4,
        "workers": 1,
    }
    return make_settings(data_dir, **{**values, **overrides})


def samples_for(chunks: int = 1) -> int:
    """Samples of a clip of `chunks` text chunks of FRAMES frames, crossfaded at each seam."""
    return chunks * FRAMES * HOP - (chunks - 1) * FADE


@dataclass
class S1App:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runner(self) -> S1Runner:
        return s1_runner(self.app)


def s1_runner(app: FastAPI) -> S1Runner:
    runner = next(runner for runner in app.state.tts.engines if runner.info.id == "s1-mini")
    assert isinstance(runner, S1Runner)
    return runner


S1AppFactory = Callable[..., "contextlib.AbstractAsyncContextManager[S1App]"]


@pytest.fixture
def s1_app_factory(data_dir: Path) -> S1AppFactory:
    """`async with s1_app_factory(**settings) as s1:` the app on S1-mini, once every engine finished loading."""

    @contextlib.asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[S1App]:
        app = create_app(s1_settings(data_dir, **overrides))
        async with app.router.lifespan_context(app):
            await wait_until_ready(app)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
                yield S1App(app, client)

    return running


@pytest.fixture
async def s1(s1_app_factory: S1AppFactory) -> AsyncIterator[S1App]:
    async with s1_app_factory() as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def s1_shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[S1App]:
    """One app on S1-mini for a whole test module (its tests run on the module's event loop): for tests that
    leave nothing behind that another test of the module could trip over."""
    app = create_app(s1_settings(tmp_path_factory.mktemp("s1-shared")))
    async with app.router.lifespan_context(app):
        await wait_until_ready(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            yield S1App(app, client)


@pytest.fixture(scope="module")
def s1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real uvicorn server on S1-mini, shared by a test module."""
    with uvicorn_server(s1_settings(tmp_path_factory.mktemp("s1-live"))) as server:
        yield server


class RequestSpy:
    """Records the SynthesisRequest each speech request hands the S1 runner; the real runner still serves it."""

    def __init__(self, runner: S1Runner) -> None:
        self.runner = runner
        self.requests: list[SynthesisRequest] = []

    def __enter__(self) -> RequestSpy:
        original = self.runner.synthesize

        def synthesize(request: SynthesisRequest) -> Any:
            self.requests.append(request)
            return original(request)

        self.runner.synthesize = synthesize  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.runner.synthesize

    @property
    def last(self) -> SynthesisRequest:
        assert self.requests, "no request reached S1-mini"
        return self.requests[-1]
