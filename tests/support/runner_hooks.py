"""Hooks on a running engine runner for the engine-behind-HTTP tests (Dia, S1-mini): find it in the app,
record what reaches it, hold back its last chunk, and wait for its state. The real runner still serves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import FastAPI

from tts_server.engines.base import AudioChunk, SynthesisRequest
from tts_server.runtime.runners.base import EngineRunner

R = TypeVar("R")


def runner_of(app: FastAPI, engine_id: str, kind: type[R]) -> R:
    """The app's runner of `engine_id`, checked to be a `kind`."""
    runner = next(runner for runner in app.state.tts.engines if runner.info.id == engine_id)
    assert isinstance(runner, kind)
    return runner


class RequestSpy:
    """Records the SynthesisRequest each speech request hands the runner; the real runner still serves it."""

    def __init__(self, runner: EngineRunner) -> None:
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
        del self.runner.synthesize  # back to the class's method

    @property
    def last(self) -> SynthesisRequest:
        assert self.requests, f"no request reached {self.runner.info.name}"
        return self.requests[-1]


class HeldBackLastChunk:
    """Passes the runner's chunks on as they come but keeps the last one until the client has seen audio bytes
    (at most `wait_s`). A server that buffered the whole clip before sending would never release it, and the
    test would time out."""

    def __init__(self, runner: EngineRunner, *, wait_s: float) -> None:
        self.runner = runner
        self.client_saw_bytes = threading.Event()
        self.chunks_before_release = 0
        self._wait_s = wait_s

    def __enter__(self) -> HeldBackLastChunk:
        original = self.runner.synthesize
        self.runner.synthesize = lambda request: self._held_back(original(request))  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        del self.runner.synthesize

    async def _held_back(self, chunks: AsyncIterator[AudioChunk]) -> AsyncGenerator[AudioChunk, None]:
        previous: AudioChunk | None = None
        async for chunk in chunks:
            if previous is not None:
                self.chunks_before_release += 1
                yield previous
            previous = chunk
        await asyncio.to_thread(self.client_saw_bytes.wait, self._wait_s)
        if previous is not None:
            yield previous


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    """Poll `condition` from a sync test until it holds; fail after `timeout` seconds."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("condition not reached")
