"""A lane for short inputs: one engine on a thread of the server process, used while it is free.

A worker process costs a one-sentence request about 0.3 ms beyond the engine's own time (bench/README.md,
"Fifth round"): pickling, waking another process, the audio crossing a socket, and a worker whose
caches went cold while it idled. Against espeak's ~3.5 ms sentence that is a tenth of the request. One
engine on a thread of the server process skips all of it, and the event loop stays free: ctypes releases
the GIL while the library speaks.

Only inputs up to `max_chars` take the lane, so long work stays in the worker processes, and with it most
of the library's exposure: a crash of the C library in a worker costs one request, here the server.
The library's global state is safe: this thread is the only one in the server process that speaks.

All bookkeeping happens on the event loop; the thread only speaks and hands results over with
`call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tts_server.engines.base import AudioChunk, CancelToken, Engine, SynthesisRequest
from tts_server.errors import GenerationFailed, ServiceError
from tts_server.runtime.runners.process_worker import EngineFactory, resolve_factory

log = logging.getLogger(__name__)

LaneItem = AudioChunk | BaseException | None  # None: the request finished
_JOIN_TIMEOUT = 5.0  # seconds stop() waits for a sentence in progress
# An engine may keep process-wide state (espeak's library does). A server has one lane, but a process
# that runs several pools (the tests do) must still load and speak through one lane at a time.
_SPEAKING = threading.Lock()


@dataclass(eq=False)
class _Task:
    request: SynthesisRequest
    deliver: Callable[[LaneItem], None]  # called on the event loop, last with None or an error
    cancel: CancelToken = field(default_factory=CancelToken)


class ServerThreadLane:
    """Runs one request at a time on a thread of this process, with an engine built from `factory`."""

    def __init__(self, factory: EngineFactory, max_chars: int) -> None:
        self._factory = factory
        self._max_chars = max_chars
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_free: Callable[[], None] = lambda: None
        self._ready = False  # loaded, and not stopped
        self._stopped = False
        self._current: _Task | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def accepts(self, request: SynthesisRequest) -> bool:
        return self._ready and self._current is None and len(request.text) <= self._max_chars

    def start(self, on_free: Callable[[], None]) -> None:
        """Load the engine on the lane's thread; `on_free` runs on the loop whenever the lane frees up."""
        self._loop = asyncio.get_running_loop()
        self._on_free = on_free
        self._thread = threading.Thread(target=self._main, name="engine-server-thread", daemon=True)
        self._thread.start()

    def run(self, request: SynthesisRequest, deliver: Callable[[LaneItem], None]) -> None:
        """Start `request` (only after `accepts` said yes); its chunks, then its end, go to `deliver`."""
        assert self.accepts(request), "the lane is busy, not loaded, or the input is too long"
        self._current = _Task(request, deliver)
        self._tasks.put(self._current)

    def cancel(self) -> None:
        """Stop the running request after its current sentence; whatever it still makes is dropped."""
        if self._current is not None:
            self._current.cancel.cancel()
            self._current.deliver = _drop

    async def stop(self, error: BaseException) -> None:
        """Fail the running request with `error` and end the thread (after its sentence in progress)."""
        self._ready, self._stopped = False, True
        if self._current is not None:
            self._current.deliver(error)
            self.cancel()
        if self._thread is not None:
            self._tasks.put(None)
            await asyncio.to_thread(self._thread.join, _JOIN_TIMEOUT)

    # --- on the lane's thread ---------------------------------------------------------------------

    def _main(self) -> None:
        try:
            engine = resolve_factory(self._factory)()
            with _SPEAKING:
                engine.load()
        except Exception as exc:  # the worker processes still serve: only this shortcut is lost
            log.warning("the server-thread engine did not load (%s); every request goes to a worker", exc)
            return
        self._call_on_loop(self._on_loaded)
        while (task := self._tasks.get()) is not None:
            self._speak(engine, task)

    def _speak(self, engine: Engine, task: _Task) -> None:
        outcome: BaseException | None = None
        with _SPEAKING:
            try:
                for chunk in engine.synthesize(task.request, task.cancel):
                    if task.cancel.cancelled:
                        break
                    self._call_on_loop(self._hand_over, task, chunk)
            except Exception as exc:
                if not isinstance(exc, ServiceError):  # a bug, not a bad request: keep its traceback
                    log.exception("synthesis failed on the server thread")
                outcome = as_synthesis_error(exc)
        self._call_on_loop(self._finish, task, outcome)

    def _call_on_loop(self, callback: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is shutting down, nobody waits
            self._loop.call_soon_threadsafe(callback, *args)

    # --- on the event loop ------------------------------------------------------------------------

    def _on_loaded(self) -> None:
        if not self._stopped:
            self._ready = True
            self._on_free()

    @staticmethod
    def _hand_over(task: _Task, chunk: AudioChunk) -> None:
        task.deliver(chunk)

    def _finish(self, task: _Task, outcome: BaseException | None) -> None:
        task.deliver(outcome)
        if self._current is task:
            self._current = None
            self._on_free()


def as_synthesis_error(exc: BaseException) -> BaseException:
    """What the caller sees of an engine's error: a service error as it is, anything else as a failure
    that names its type and text (the way a worker process reports it)."""
    if isinstance(exc, ServiceError):
        return exc
    return GenerationFailed(f"Synthesis failed: {type(exc).__name__}: {exc}")


def _drop(_item: LaneItem) -> None:
    pass
