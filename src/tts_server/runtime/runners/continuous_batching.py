"""The continuous-batching core shared by the GPU engines' runners (Dia, S1-mini).

One worker thread loads the engine, then owns it: it is the only thread that touches torch. Requests become
jobs in a bounded waiting list; between decoding steps the worker moves waiting jobs into the running batch
(up to the engine's free slots), so a request that arrives mid-generation starts at the next step instead of
waiting for the batch to finish. Audio reaches the event loop through one asyncio queue per request; closing
the iterator (client gone) cancels the job, and the engine drops its row at the next step.

What differs per engine is small: how the engine is built (`_build_engine`), what a job is (`_new_job`), how a
request is adjusted before admission (`_prepare`), the voices, and the extra it needs installed (`extra`). A
subclass supplies those. What every such engine does the same way lives here: compiling and warming up its
decoding step when `compile` is on, and recording the device it landed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import replace
from typing import Generic, Protocol, TypeVar

from tts_server.engines.base import AudioChunk, CancelToken, EngineInfo, EngineLoadError, SynthesisRequest, VoiceInfo
from tts_server.errors import ModelNotLoaded, QueueFull
from tts_server.runtime.runners.base import RunnerLoad, RunnerState

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.5  # the worker re-checks for stop this often when idle
_STOP_JOIN_S = 10.0

Item = AudioChunk | BaseException | None
Emit = Callable[[Item], None]


class BatchJob(Protocol):
    """One request inside the worker: its cancel token, and `end` that sends None (done) or an error."""

    cancel: CancelToken

    def end(self, error: BaseException | None = None) -> None: ...


JobT = TypeVar("JobT", bound=BatchJob)
JobT_contra = TypeVar("JobT_contra", bound=BatchJob, contravariant=True)


class BatchEngine(Protocol[JobT_contra]):
    """An engine that decodes many jobs at once, one step at a time, on the worker thread."""

    @property
    def info(self) -> EngineInfo:
        """What the engine is, with the device it landed on."""
        ...

    @property
    def active_jobs(self) -> int: ...

    @property
    def free_slots(self) -> int: ...

    def submit(self, job: JobT_contra) -> None: ...

    def step(self) -> bool:
        """One decoding step for the batch; False when there was nothing to do."""
        ...

    def fail_all(self, error: BaseException) -> None: ...

    def warm_up(self) -> None:
        """Run the compiled decoding step once per shape it will meet, before the first real request."""
        ...


EngineT = TypeVar("EngineT", bound=BatchEngine)  # type: ignore[type-arg]


class ContinuousBatchingRunner(ABC, Generic[EngineT, JobT]):
    """Serves a batch engine to the async side. `name` is how messages call the engine ("Dia"); with `compile`,
    the engine is warmed up (its step compiled) before the runner reports ready."""

    extra: str | None = None  # the pip extra the engine's imports need ("dia"), named when they fail

    def __init__(self, *, info: EngineInfo, name: str, max_batch: int, max_queue: int, compile: bool = False) -> None:
        self.info = info
        self.name = name
        self._compile = compile
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._state = RunnerState.STOPPED
        self._detail: str | None = "not started"
        self._engine: EngineT | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._waiting: deque[JobT] = deque()
        self._admitted: set[JobT] = set()  # waiting or in the batch, until its consumer lets go
        self._stopping = False

    # --- what a subclass supplies --------------------------------------------------------------------------

    @abstractmethod
    def _build_engine(self) -> EngineT:
        """Load weights and build the engine (on the worker thread); may set `_detail` to report progress.
        Raises EngineLoadError (a user-facing reason) or ImportError (a missing extra)."""

    @abstractmethod
    def _new_job(self, request: SynthesisRequest, emit: Emit) -> JobT: ...

    @abstractmethod
    def voices(self) -> Sequence[VoiceInfo]: ...

    @abstractmethod
    def has_voice(self, name: str) -> bool: ...

    def _prepare(self, request: SynthesisRequest) -> SynthesisRequest:
        """Adjust a request before admission (caps from settings); the default keeps it."""
        return request

    def _missing_extra(self, exc: ImportError) -> str:
        if self.extra is not None:
            return f"{self.name} needs the '{self.extra}' extra (pip install 'tts-server[{self.extra}]'): {exc}"
        return f"{self.name} cannot be imported: {exc}"

    def _on_loaded(self, engine: EngineT) -> None:
        """Called on the worker once the engine is ready; records the device it landed on."""
        self.info = replace(self.info, device=engine.info.device)

    # --- EngineRunner -------------------------------------------------------------------------------------

    @property
    def state(self) -> RunnerState:
        return self._state

    @property
    def state_detail(self) -> str | None:
        return self._detail

    def load(self) -> RunnerLoad:
        with self._lock:
            waiting = len(self._waiting)
            return RunnerLoad(
                workers=1,
                active=len(self._admitted) - waiting,
                waiting=waiting,
                capacity=self.max_batch + self.max_queue,
            )

    async def start(self) -> None:
        if self._thread is not None:
            return
        self._state, self._detail = RunnerState.LOADING, f"loading {self.name} weights"
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"{self.info.id}-worker", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, _STOP_JOIN_S)
            if thread.is_alive():
                log.warning("the %s worker is still busy (loading?); leaving it to exit on its own", self.name)
        self._state, self._detail = RunnerState.STOPPED, "stopped"

    def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        """Admission is checked now (ModelNotLoaded, QueueFull) and again when iteration starts."""
        with self._lock:
            self._check_admission()
        return self._stream(self._prepare(request))

    # --- the async side -------------------------------------------------------------------------------------

    def _check_admission(self) -> None:
        if self._state is not RunnerState.READY:
            raise ModelNotLoaded(f"Model '{self.info.id}' is not ready: {self._detail or self._state.value}")
        if len(self._admitted) >= self.max_batch + self.max_queue:
            raise QueueFull(f"{self.name} is busy: {self.max_batch} requests decoding and {self.max_queue} waiting.")

    async def _stream(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Item] = asyncio.Queue()
        job = self._new_job(request, lambda item: _deliver(loop, queue, item))
        with self._lock:
            self._check_admission()
            self._admitted.add(job)
            self._waiting.append(job)
            self._lock.notify_all()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancel.cancel()  # a no-op for a finished job; stops the row of an abandoned one
            with self._lock:
                self._admitted.discard(job)
                if job in self._waiting:
                    self._waiting.remove(job)

    # --- the worker thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        engine = self._start_engine()
        if engine is None:
            return
        try:
            while self._next_round(engine):
                engine.step()
        except Exception as exc:  # a bug, not a request's failure: say so in /health
            log.exception("the %s worker stopped", self.name)
            self._state, self._detail = RunnerState.FAILED, f"the {self.name} worker stopped: {exc}"
            engine.fail_all(ModelNotLoaded(self._detail))
        finally:
            engine.fail_all(ModelNotLoaded("The server is stopping."))
            self._fail_waiting(ModelNotLoaded("The server is stopping."))

    def _start_engine(self) -> EngineT | None:
        try:
            engine = self._build_engine()
            if self._compile:
                self._detail = f"compiling and warming up the {self.name} decoder"
                engine.warm_up()
        except ImportError as exc:
            detail = self._missing_extra(exc)
            log.error(detail)
            self._state, self._detail = RunnerState.FAILED, detail
            return None
        except EngineLoadError as exc:
            log.error("%s is not available: %s", self.name, exc)
            self._state, self._detail = RunnerState.FAILED, str(exc)
            return None
        except Exception as exc:
            log.exception("%s failed to load", self.name)
            self._state, self._detail = RunnerState.FAILED, f"{self.name} failed to load: {exc}"
            return None
        if self._stopping:
            return None
        self._engine = engine
        self._on_loaded(engine)
        self._state, self._detail = RunnerState.READY, None
        return engine

    def _next_round(self, engine: EngineT) -> bool:
        """Move waiting jobs into the engine while it has room; sleep when there is nothing to do."""
        with self._lock:
            while not self._stopping and engine.active_jobs == 0 and not self._waiting:
                self._lock.wait(_IDLE_WAIT_S)
            if self._stopping:
                return False
            joining = [self._waiting.popleft() for _ in range(min(engine.free_slots, len(self._waiting)))]
        for job in joining:
            engine.submit(job)
        return True

    def _fail_waiting(self, error: BaseException) -> None:
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        for job in waiting:
            job.end(error)


def _deliver(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Item], item: Item) -> None:
    """From the worker thread into the request's queue; a closed loop means nobody is listening."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(queue.put_nowait, item)
