"""An EngineRunner that hosts an engine in N worker processes (the built-in espeak engine).

Each worker builds its own engine from a factory named by import path and serves one request at a
time. Admission is explicit: at most `workers` requests run and at most `max_queue` wait (FIFO);
beyond that, QueueFull. Audio streams back chunk by chunk over a socket pair per worker, which the
event loop watches (add_reader) and reads without ever waiting: frames are assembled as bytes
arrive. No threads, so all bookkeeping (jobs, idle workers, the queue) lives on the loop, and a
chunk reaches its consumer with no thread hand-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import pickle
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import partial
from itertools import count
from multiprocessing.process import BaseProcess

from tts_server.engines.base import AudioChunk, EngineInfo, SynthesisRequest, VoiceInfo
from tts_server.errors import GenerationFailed, ModelNotLoaded, QueueFull, ServiceError
from tts_server.runtime.runners.base import RunnerLoad, RunnerState
from tts_server.runtime.runners.process_worker import Channel, EngineFactory, Frame, Kind, resolve_factory, worker_main
from tts_server.runtime.runners.server_thread import LaneItem, ServerThreadLane
from tts_server.settings import Settings

log = logging.getLogger(__name__)

ESPEAK_FACTORY = "tts_server.engines.espeak.engine:create_engine"
_STOP_TIMEOUT = 5.0  # seconds a worker gets to exit after STOP before it is killed

_Item = AudioChunk | BaseException | None  # None: the request finished


class _JobState(Enum):
    WAITING = auto()
    RUNNING = auto()
    FINISHED = auto()


@dataclass(eq=False)
class _Job:
    number: int
    request: SynthesisRequest
    items: asyncio.Queue[_Item] = field(default_factory=asyncio.Queue)
    state: _JobState = _JobState.WAITING
    abandoned: bool = False  # the consumer went away; drop whatever still arrives
    on_lane: bool = False  # running on the server thread, not in a worker


@dataclass(eq=False)
class _Worker:
    slot: int
    process: BaseProcess
    channel: Channel
    ready: bool = False
    job: _Job | None = None


class ProcessPoolRunner:
    """Runs `factory` (e.g. "tts_server.engines.espeak.engine:create_engine") in `workers` processes, and inputs
    up to `server_thread_chars` characters on a thread of this process while it is free (0: never; see
    tts_server.runtime.runners.server_thread)."""

    def __init__(
        self,
        factory: EngineFactory,
        *,
        workers: int,
        max_queue: int,
        retry_after: int = 2,
        server_thread_chars: int = 0,
    ) -> None:
        # An unloaded engine answers info and voice questions here, with no round-trip to a worker.
        self._catalogue = resolve_factory(factory)()
        self.info: EngineInfo = self._catalogue.info
        self._factory = factory
        self._size = workers
        self._max_queue = max_queue
        self._retry_after = retry_after
        self._state = RunnerState.LOADING
        self._detail: str | None = "not started"
        self._workers: list[_Worker | None] = [None] * workers
        self._idle: deque[_Worker] = deque()
        self._waiting: deque[_Job] = deque()
        self._numbers = count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lane = ServerThreadLane(factory, server_thread_chars) if server_thread_chars > 0 else None

    @classmethod
    def for_espeak(cls, settings: Settings) -> ProcessPoolRunner:
        return cls(
            ESPEAK_FACTORY,
            workers=settings.workers,
            max_queue=settings.max_queue,
            server_thread_chars=settings.server_thread_max_chars,
        )

    @classmethod
    def for_onnx_voice(cls, factory: EngineFactory, settings: Settings) -> ProcessPoolRunner:
        """Piper or Kokoro: TTS_ONNX_WORKERS processes, no server-thread lane (a neural sentence takes tens to
        hundreds of milliseconds, against the lane's saving of ~0.3 ms; bench/cpu_voices.md)."""
        return cls(factory, workers=settings.onnx_worker_count, max_queue=settings.max_queue)

    # --- state and catalogue --------------------------------------------------------------------

    @property
    def state(self) -> RunnerState:
        return self._state

    @property
    def state_detail(self) -> str | None:
        return None if self._state is RunnerState.READY else self._detail

    def load(self) -> RunnerLoad:
        active = sum(1 for worker in self._workers if worker is not None and worker.job is not None)
        active += int(self._lane is not None and self._lane.busy)
        return RunnerLoad(self._size, active, len(self._waiting), self._size + self._max_queue)

    def voices(self) -> Sequence[VoiceInfo]:
        return self._catalogue.voices()

    def has_voice(self, name: str) -> bool:
        return self._catalogue.has_voice(name)

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Launch the workers and return; they load in the background (LOADING until all are READY)."""
        self._loop = asyncio.get_running_loop()
        self._state, self._detail = RunnerState.LOADING, "starting engine workers"
        for slot in range(self._size):
            self._spawn(slot)
        if self._lane is not None:
            self._lane.start(on_free=self._dispatch)

    async def stop(self) -> None:
        """Fail queued and running requests, and stop every worker (killing any that lingers)."""
        self._state, self._detail = RunnerState.STOPPED, "the engine was stopped"
        stopped = ModelNotLoaded(f"Model '{self.info.id}' was stopped.")
        while self._waiting:
            self._waiting.popleft().items.put_nowait(stopped)
        workers = [worker for worker in self._workers if worker is not None]
        for worker in workers:
            self._unwatch(worker)
            if worker.job is not None:
                worker.job.items.put_nowait(stopped)
            self._send(worker, Kind.STOP)
        self._idle.clear()
        if self._lane is not None:
            await self._lane.stop(stopped)
        await asyncio.to_thread(self._join, workers)
        for worker in workers:
            worker.channel.close()

    def _join(self, workers: list[_Worker]) -> None:
        for worker in workers:
            worker.process.join(_STOP_TIMEOUT)
            if worker.process.is_alive():
                log.warning("engine worker %d did not stop; killing it", worker.slot)
                worker.process.kill()
                worker.process.join(_STOP_TIMEOUT)

    def _spawn(self, slot: int) -> None:
        context = multiprocessing.get_context("spawn")
        channel, child_end = Channel.pair()
        process = context.Process(
            target=worker_main, args=(self._factory, child_end), name=f"{self.info.id}-worker-{slot}", daemon=True
        )
        process.start()
        child_end.close()  # only the child holds it now, so its death reads as EOF here
        worker = _Worker(slot, process, channel)
        self._workers[slot] = worker
        channel.set_blocking(False)
        self._event_loop().add_reader(channel.fileno(), self._on_readable, worker)

    # --- messages from workers (read on the event loop as they arrive) ---------------------------

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "start() first"
        return self._loop

    def _on_readable(self, worker: _Worker) -> None:
        try:
            messages = worker.channel.receive_available()
        except (EOFError, OSError):
            # The worker exited (or is exiting): learn how once its process is over.
            loop = self._event_loop()
            loop.remove_reader(worker.channel.fileno())
            loop.add_reader(worker.process.sentinel, self._on_process_end, worker)
            return
        for message in messages:
            self._on_message(worker, message)

    def _on_process_end(self, worker: _Worker) -> None:
        self._event_loop().remove_reader(worker.process.sentinel)
        self._on_exit(worker)

    def _unwatch(self, worker: _Worker) -> None:
        if not worker.channel.closed:
            self._event_loop().remove_reader(worker.channel.fileno())
        self._event_loop().remove_reader(worker.process.sentinel)

    def _on_message(self, worker: _Worker, message: Frame) -> None:
        if message.kind is Kind.READY:
            self._on_ready(worker)
            return
        if message.kind is Kind.LOAD_FAILED:
            self._fail(f"the engine failed to load: {bytes(message.payload).decode(errors='replace')}")
            return
        job = worker.job
        if job is None or job.number != message.number:
            return  # a late message of a request that was already given up on
        if message.kind is Kind.CHUNK:
            if not job.abandoned:
                job.items.put_nowait(message.chunk())
        elif message.kind in (Kind.DONE, Kind.ERROR):
            if not job.abandoned:
                job.items.put_nowait(_worker_error(message) if message.kind is Kind.ERROR else None)
            self._release(worker)

    def _on_ready(self, worker: _Worker) -> None:
        if self._state in (RunnerState.STOPPED, RunnerState.FAILED):
            return
        worker.ready = True
        self._idle.append(worker)
        if self._state is RunnerState.LOADING and all(w is not None and w.ready for w in self._workers):
            self._state, self._detail = RunnerState.READY, None
        self._dispatch()

    def _on_exit(self, worker: _Worker) -> None:
        """A worker process ended: after a failed load, or a crash (fail its job, respawn)."""
        worker.channel.close()
        if self._state is RunnerState.STOPPED or self._workers[worker.slot] is not worker:
            return
        code = worker.process.exitcode
        if worker in self._idle:
            self._idle.remove(worker)
        job, worker.job = worker.job, None
        if job is not None:
            job.state = _JobState.FINISHED
            if not job.abandoned:
                job.items.put_nowait(
                    GenerationFailed(f"The engine worker crashed (exit code {code}) during synthesis.")
                )
        if not worker.ready:
            # Dying while loading would only repeat: report it instead of respawning in a loop.
            if self._state is not RunnerState.FAILED:
                self._fail(f"an engine worker exited while loading (exit code {code})")
            return
        log.error("engine worker %d exited unexpectedly (exit code %s); starting a new one", worker.slot, code)
        self._spawn(worker.slot)

    def _fail(self, detail: str) -> None:
        """The engine cannot serve: say why, and turn away everything still queued."""
        log.error("engine %s failed: %s", self.info.id, detail)
        if self._state is RunnerState.STOPPED:
            return
        self._state, self._detail = RunnerState.FAILED, detail
        while self._waiting:
            self._waiting.popleft().items.put_nowait(ModelNotLoaded(f"Model '{self.info.id}' failed: {detail}"))

    # --- admission and dispatch ---------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        """Checks admission now (so refusals raise before a response starts), then streams."""
        self._check_admission()
        return self._stream(request)

    def _check_admission(self) -> None:
        if self._state is not RunnerState.READY:
            raise ModelNotLoaded(f"Model '{self.info.id}' is not ready: {self._detail or self._state.value}")
        load = self.load()
        if load.active + load.waiting >= load.capacity:
            raise QueueFull(
                f"All {self._size} engine workers are busy and {self._max_queue} requests are waiting; "
                "try again shortly.",
                retry_after=self._retry_after,
            )

    async def _stream(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        self._check_admission()  # again: the state may have changed since synthesize() was called
        job = _Job(next(self._numbers), request)
        self._waiting.append(job)
        self._dispatch()
        try:
            while (item := await job.items.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._abandon(job)

    def _dispatch(self) -> None:
        """Give waiting requests (oldest first) to the server thread when it takes them, else to idle
        workers, the most recently busy one first: its caches are still warm, which makes a short request
        measurably faster than on a worker that idled."""
        while self._waiting:
            job = self._waiting[0]
            if self._lane is not None and self._lane.accepts(job.request):
                self._waiting.popleft()
                job.state, job.on_lane = _JobState.RUNNING, True
                self._lane.run(job.request, partial(self._on_lane_item, job))
            elif self._idle:
                self._waiting.popleft()
                worker = self._idle.pop()
                job.state, worker.job = _JobState.RUNNING, job
                self._send(worker, Kind.SYNTH, job.number, pickle.dumps(job.request))
            else:
                return

    @staticmethod
    def _on_lane_item(job: _Job, item: LaneItem) -> None:
        if not isinstance(item, AudioChunk):
            job.state = _JobState.FINISHED
        if not job.abandoned:
            job.items.put_nowait(item)

    def _release(self, worker: _Worker) -> None:
        if worker.job is not None:
            worker.job.state = _JobState.FINISHED
        worker.job = None
        if self._state is not RunnerState.STOPPED and self._workers[worker.slot] is worker:
            self._idle.append(worker)
            self._dispatch()

    def _abandon(self, job: _Job) -> None:
        """The consumer is gone (finished, closed early or cancelled): clean up after its job."""
        job.abandoned = True
        if job.state is _JobState.WAITING:
            if job in self._waiting:
                self._waiting.remove(job)
        elif job.state is _JobState.RUNNING and job.on_lane:
            assert self._lane is not None
            self._lane.cancel()
        elif job.state is _JobState.RUNNING:
            # The worker stops after its current sentence and answers DONE, which frees it.
            worker = next((w for w in self._workers if w is not None and w.job is job), None)
            if worker is not None:
                self._send(worker, Kind.CANCEL, job.number)

    @staticmethod
    def _send(worker: _Worker, kind: Kind, number: int = 0, payload: bytes = b"") -> None:
        with contextlib.suppress(OSError):  # a dead worker: its reader reports that and fails the job
            worker.channel.send(kind, number, payload)


def _worker_error(message: Frame) -> BaseException:
    try:
        error = pickle.loads(bytes(message.payload))
    except Exception:
        error = None
    if isinstance(error, ServiceError):
        return error
    return GenerationFailed(f"Synthesis failed: {error}")
