"""Helpers for job, WebSocket, config, stats and rate-limit tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings, wait_until_ready
from tts_server.app import create_app
from tts_server.engines.base import AudioChunk, SynthesisRequest

GATE_WORD = "Gatekeeper"
LONG_TEXT = " ".join(f"{GATE_WORD} reads sentence number {n} of a long chapter." for n in range(1, 13))
SHORT_TEXT = "Hello there. This is a short job."


@dataclass
class RunningApp:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runner(self) -> Any:
        return self.app.state.tts.engines.default


AppRunner = Callable[..., "contextlib.AbstractAsyncContextManager[RunningApp]"]


@pytest.fixture
def run_app(data_dir: Path) -> AppRunner:
    """Like conftest's app_factory, but also hands out the app (for its engine runner and job queue)."""

    @contextlib.asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[RunningApp]:
        app = create_app(make_settings(data_dir, **overrides))
        async with app.router.lifespan_context(app):
            await wait_until_ready(app)
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
                yield RunningApp(app, client)

    return run


class EngineGate:
    """Holds every synthesis whose text contains GATE_WORD after its first chunk until `release()`, so a
    test can look at (and cancel) a job mid-run. The real engine still does the work. Thread-safe: works
    for the in-process app and for a uvicorn server in another thread."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.original = runner.synthesize
        self._release = threading.Event()
        self._held = 0
        self._lock = threading.Lock()
        self.closed = 0  # gated syntheses whose stream was closed (finished or cancelled)

    def __enter__(self) -> EngineGate:
        self.runner.synthesize = self._synthesize
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self.runner.synthesize = self.original

    def release(self) -> None:
        self._release.set()

    @property
    def held(self) -> int:
        with self._lock:
            return self._held

    async def wait_held(self, count: int = 1, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.held < count:
            assert time.monotonic() < deadline, f"only {self.held} of {count} syntheses reached the gate"
            await asyncio.sleep(0.01)

    async def _synthesize(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        inner = self.original(request)
        gated = GATE_WORD.lower() in request.text.lower()
        try:
            first = True
            async for chunk in inner:
                yield chunk
                if gated and first:
                    first = False
                    with self._lock:
                        self._held += 1
                    while not self._release.is_set():
                        await asyncio.sleep(0.01)
        finally:
            if gated:
                with self._lock:
                    self.closed += 1
            await inner.aclose()


async def wait_for_status(
    client: httpx.AsyncClient, job_id: str, *statuses: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
        if body.get("status") in statuses:
            return body
        assert time.monotonic() < deadline, f"job {job_id} stayed {body.get('status')}, wanted {statuses}"
        await asyncio.sleep(0.02)


async def submit(client: httpx.AsyncClient, text: str = SHORT_TEXT, **fields: Any) -> str:
    response = await client.post("/generate", params={"async_mode": "true"}, json={"text": text, **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending" and body["message"]
    job_id: str = body["job_id"]
    return job_id
