"""S1-mini behind every endpoint family: the real app with TTS_PROVIDER=s1-mini on the tiny checkpoint (model
and codec, official file formats) loaded offline through the real loading code. Here the checkpoint's output row
of <|im_end|> is zeroed (`never_ending_checkpoint`), so that no chunk ends early and each runs to
TTS_S1_MAX_NEW_TOKENS frames: lengths are exact, and the tests check that every route reaches S1-mini with the
right request and brings its audio back."""

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import tempfile
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


from tests.conftest import LiveServer, app_and_client, make_settings, uvicorn_server
from tests.engines.s1.conftest import TINY
from tests.support.runner_hooks import RequestSpy as RequestSpy  # the spy the S1 tests import from here
from tests.support.runner_hooks import runner_of
from tests.support.tiny_torch import offline_one_thread
from tts_server.runtime.runners.s1 import S1Runner
from tts_server.settings import Settings

FRAMES = 12  # TTS_S1_MAX_NEW_TOKENS here: every text chunk is 12 codec frames (~0.56 s)
HOP = 2048  # samples per codec frame
RATE = 44_100
FADE = round(RATE * 0.04)  # samples two crossfaded chunks share
CHUNK_SECONDS = FRAMES * HOP / RATE


@pytest.fixture(scope="package", autouse=True)
def offline_single_threaded() -> Iterator[None]:
    with offline_one_thread():
        yield


@functools.cache
def never_ending_checkpoint() -> Path:
    """The tiny checkpoint with a logit of exactly 0 for <|im_end|>. The random weights give it a small chance
    (up to 5% in a frame, measured) of ending a chunk early, a length the tests could not foresee; a logit of 0
    lies deep in the bottom 20% of the probability mass, which top-p (0.8) always cuts."""
    import torch

    from tts_server.engines.s1.tokenizer import S1Tokenizer

    folder = Path(tempfile.mkdtemp(prefix="s1-http-checkpoint-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copytree(TINY, folder, dirs_exist_ok=True)
    state = torch.load(folder / "model.pth", map_location="cpu", weights_only=True)
    state["output.weight"][S1Tokenizer.from_folder(folder).im_end_id] = 0
    torch.save(state, folder / "model.pth")
    return folder


def s1_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "provider": "s1-mini",
        "s1_model": str(never_ending_checkpoint()),
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
    return runner_of(app, "s1-mini", S1Runner)


S1AppFactory = Callable[..., "contextlib.AbstractAsyncContextManager[S1App]"]


@pytest.fixture
def s1_app_factory(data_dir: Path) -> S1AppFactory:
    """`async with s1_app_factory(**settings) as s1:` the app on S1-mini, once every engine finished loading."""

    @contextlib.asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[S1App]:
        async with app_and_client(s1_settings(data_dir, **overrides)) as (app, client):
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
    async with app_and_client(s1_settings(tmp_path_factory.mktemp("s1-shared"))) as (app, client):
        yield S1App(app, client)


@pytest.fixture(scope="module")
def s1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real uvicorn server on S1-mini, shared by a test module."""
    with uvicorn_server(s1_settings(tmp_path_factory.mktemp("s1-live"))) as server:
        yield server
