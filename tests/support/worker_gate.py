"""Holding a batching engine's worker (Dia, S1-mini) at a chosen moment, so a test can act there however busy the machine is.

The worker decodes on its own thread while the test's event loop sends, reads and cancels requests; on a
loaded machine the loop can fall any number of steps behind. A gate turns "the late request joins while the
long one is still decoding" from a race into a fact: the worker stops before its next step once `trigger`
holds, and goes on when the test calls `release()` (or after `timeout` seconds, so a bug fails the test's
assertions instead of hanging it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Protocol

from tts_server.runtime.runners.continuous_batching import ContinuousBatchingRunner


class SteppingEngine(Protocol):
    """What the gate needs of an engine: its decoding step and its traces (`stats.traces`)."""

    def step(self) -> bool: ...

    @property
    def stats(self) -> Any: ...


class WorkerGate:
    def __init__(
        self, engine: SteppingEngine, trigger: Callable[[SteppingEngine], bool], timeout: float = 60.0
    ) -> None:
        self.engine = engine
        self.held = threading.Event()  # the worker has stopped at the gate
        self._open = threading.Event()
        self._trigger: Callable[[SteppingEngine], bool] | None = trigger
        self._timeout = timeout
        step = engine.step

        def gated_step() -> bool:
            if self._trigger is not None and self._trigger(engine):
                self._trigger = None
                self.held.set()
                self._open.wait(self._timeout)
            return step()

        engine.step = gated_step  # type: ignore[method-assign]

    @classmethod
    def on(cls, runner: ContinuousBatchingRunner[Any, Any], trigger: Callable[[SteppingEngine], bool]) -> WorkerGate:
        assert runner._engine is not None, "the runner has not loaded its engine"
        return cls(runner._engine, trigger)

    async def wait_held(self) -> None:
        await asyncio.to_thread(self.held.wait, self._timeout)
        assert self.held.is_set(), "the worker never reached the gate"

    def release(self) -> None:
        self._open.set()
        del self.engine.step  # back to the class's method


def first_audio_of(request_id: str) -> Callable[[SteppingEngine], bool]:
    """Trigger: the request has emitted audio."""

    def reached(engine: SteppingEngine) -> bool:
        trace = engine.stats.traces.get(request_id)
        return trace is not None and trace.first_audio_step is not None

    return reached


def first_audio_of_a_new_request(engine: SteppingEngine) -> Callable[[SteppingEngine], bool]:
    """Trigger: a request submitted after this call has emitted audio (for requests made through HTTP)."""
    before = set(engine.stats.traces)

    def reached(engine: SteppingEngine) -> bool:
        return any(
            trace.first_audio_step is not None for key, trace in engine.stats.traces.items() if key not in before
        )

    return reached


def admitted(runner: ContinuousBatchingRunner[Any, Any]) -> int:
    """Requests the runner has taken: waiting for a slot, or handed to the engine (joining or decoding)."""
    load = runner.load()
    return load.active + load.waiting


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll a condition the event loop itself brings about (a task reaching the runner's waiting list)."""
    for _ in range(int(timeout / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")
