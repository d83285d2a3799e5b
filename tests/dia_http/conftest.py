"""Dia behind every endpoint family: the real app with TTS_PROVIDER=dia on a tiny random Dia and DAC that load
offline through the real loading code. Random weights say nothing and never stop early, so every text segment
runs to its frame cap: lengths are exact, and what the tests check is that each route reaches Dia with the
right request and brings its audio back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.conftest import LiveServer, app_and_client, make_settings, uvicorn_server
from tests.engines.dia.tiny_models import TinyDiaFolders, save_tiny_dia
from tests.support.runner_hooks import RequestSpy as RequestSpy  # the spy the Dia tests import from here
from tests.support.runner_hooks import runner_of
from tests.support.tiny_torch import offline_one_thread
from tts_server.runtime.runners.dia import DiaRunner
from tts_server.settings import Settings

FRAMES = 40  # TTS_DIA_MAX_NEW_TOKENS here: every text segment is 40 codec frames (~0.46 s)
HOP = 512  # samples per codec frame
RATE = 44_100
SEGMENT_SECONDS = FRAMES * HOP / RATE
# Long enough to be cut into many Dia segments (one voice, conditioned on the first), so it streams in pieces.
LONG_TEXT = " ".join(f"This is sentence number {n} of a long text that Dia reads in segments." for n in range(1, 31))


@pytest.fixture(scope="package", autouse=True)
def offline_single_threaded() -> Iterator[None]:
    with offline_one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_dia_folders(tmp_path_factory: pytest.TempPathFactory) -> TinyDiaFolders:
    return save_tiny_dia(tmp_path_factory.mktemp("tiny-dia-http"))


def dia_settings(data_dir: Path, folders: TinyDiaFolders, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "provider": "dia",
        "dia_model": str(folders.model),
        "dia_codec": str(folders.codec),
        "device": "cpu",
        "dia_max_new_tokens": FRAMES,
        "dia_max_batch": 4,
        "workers": 1,
    }
    return make_settings(data_dir, **{**values, **overrides})


@dataclass
class DiaApp:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runner(self) -> DiaRunner:
        return dia_runner(self.app)


def dia_runner(app: FastAPI) -> DiaRunner:
    return runner_of(app, "dia", DiaRunner)


DiaAppFactory = Callable[..., "contextlib.AbstractAsyncContextManager[DiaApp]"]


@pytest.fixture
def dia_app_factory(data_dir: Path, tiny_dia_folders: TinyDiaFolders) -> DiaAppFactory:
    """`async with dia_app_factory(**settings) as dia:` the app on Dia, once every engine finished loading."""

    @contextlib.asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[DiaApp]:
        async with app_and_client(dia_settings(data_dir, tiny_dia_folders, **overrides)) as (app, client):
            yield DiaApp(app, client)

    return running


@pytest.fixture
async def dia(dia_app_factory: DiaAppFactory) -> AsyncIterator[DiaApp]:
    async with dia_app_factory() as running:
        yield running


@pytest.fixture(scope="module")
def dia_server(tmp_path_factory: pytest.TempPathFactory, tiny_dia_folders: TinyDiaFolders) -> Iterator[LiveServer]:
    """A real uvicorn server on Dia, shared by a test module."""
    with uvicorn_server(dia_settings(tmp_path_factory.mktemp("dia-live"), tiny_dia_folders)) as server:
        yield server


def samples_for(segments: int = 1) -> int:
    return segments * FRAMES * HOP


@pytest.fixture(scope="session")
def hello_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real Whisper checkpoint that hears "hello" in any audio (tests/whisper/conftest.py)."""
    from tests.whisper.conftest import build_hello_checkpoint

    path = tmp_path_factory.mktemp("whisper-hello") / "tiny-hello.pt"
    build_hello_checkpoint(path)
    return path
