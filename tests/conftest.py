"""Shared fixtures: the real app on a temporary data dir, driven over real HTTP (ASGI or uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.support.postgres import postgres, postgres_url  # noqa: F401 - fixtures for every test package
from tts_server.app import create_app
from tts_server.settings import Settings

AppFactory = Callable[..., "contextlib.AbstractAsyncContextManager[httpx.AsyncClient]"]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for tests: built-in engine, two workers, no rate limits unless a test asks. In auto mode only
    S1-mini, Dia and espeak are looked for unless a test asks for more: the CPU voices have tests of their own, and
    each of their workers holds a model (~0.5 GB)."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "provider": "espeak",
        "engine_preference": "s1-mini,dia,espeak",
        "workers": 2,
        "rate_limit_enabled": False,
        # Test clients connect from loopback, which is exempt by default; tests of the limits want to be limited.
        "rate_limit_exempt": "",
        "auto_transcribe": False,
        "whisper_model": str(data_dir / "no-whisper.pt"),
        "api_key": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, behind an httpx client on the ASGI transport."""
    async with app_and_client(settings) as (_, client):
        yield client


@contextlib.asynccontextmanager
async def app_and_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """`running_app`, with the app itself (for tests that reach its runners), once every engine has loaded."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await wait_until_ready(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            yield app, client


async def wait_until_ready(app: FastAPI, timeout: float = 120.0) -> None:
    if not await eventually(lambda: all(runner.state.value != "loading" for runner in app.state.tts.engines), timeout):
        raise TimeoutError("engines did not finish loading")


async def eventually(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether `condition` came true before `timeout` seconds: for what the server does a moment after a test's
    last step (a worker reporting back). The deadline is generous, since only a failure waits it out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def app_factory(data_dir: Path) -> AppFactory:
    """`async with app_factory(api_key="k") as client:` runs the app with overridden settings."""

    def factory(**overrides: Any) -> contextlib.AbstractAsyncContextManager[httpx.AsyncClient]:
        return running_app(make_settings(data_dir, **overrides))

    return factory


@pytest.fixture
async def client(app_factory: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with app_factory() as client:
        yield client


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: FastAPI


@contextlib.contextmanager
def uvicorn_server(settings: Settings, host: str = "127.0.0.1") -> Iterator[LiveServer]:
    """A real uvicorn server on a free port (of loopback, or of `host`), in a thread of this process."""
    port = _free_port(host)
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(base_url)
        yield LiveServer(base_url, app)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _wait_for_health(base_url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=2).json().get("status") == "healthy":
                return
        time.sleep(0.05)
    raise TimeoutError(f"server at {base_url} did not become healthy")


def wait_until_engines_settle(base_url: str, timeout: float = 180.0) -> None:
    """Healthy means the default engine is ready; the others may still be loading. Tests that use every engine
    wait here until none is (on a busy machine a model load can take many seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            engines = httpx.get(f"{base_url}/health", timeout=5).json().get("engines", [])
            if engines and all(engine["state"] != "loading" for engine in engines):
                return
        time.sleep(0.1)
    raise TimeoutError(f"engines at {base_url} were still loading after {timeout} s")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real uvicorn server shared by a test module."""
    data_dir = tmp_path_factory.mktemp("live")
    with uvicorn_server(make_settings(data_dir)) as server:
        yield server
