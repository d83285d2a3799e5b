"""What the continuous-batching engines (Dia, S1-mini) share about their jobs, outside the model itself.

A job is one request inside an engine's worker thread: it hands what it produces to its `emit` callback
(AudioChunk, then None at the end, or an exception instead) and ends exactly once. The engine counts its
decoding steps and keeps a bounded trace per job of where its life fell on that counter (tests, /stats,
benchmarks). Running one request alone (`synthesize_alone`) and the errors a failed job ends with are the same
for every such engine but for its name.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import torch

from tts_server.engines.base import AudioChunk, CancelToken, SynthesisRequest
from tts_server.engines.torch_device import free_accelerator_memory
from tts_server.errors import GenerationFailed, GpuOutOfMemory, ServiceError

Item = AudioChunk | BaseException | None
Emit = Callable[[Item], None]

TRACE_LIMIT = 256  # traces kept per engine; the oldest go first


@dataclass(eq=False)
class EmittingJob:
    """One request inside the engine: where its items go, its cancel token, and `end` that runs once."""

    request: SynthesisRequest
    emit: Emit
    cancel: CancelToken = field(default_factory=CancelToken)
    finished: bool = False

    def end(self, error: BaseException | None = None) -> None:
        """Send None (done) or `error`, the first time only."""
        if not self.finished:
            self.finished = True
            self.emit(error)


@dataclass(slots=True)
class StepTrace:
    """Where a job's life fell on the engine's step counter, for tests, /stats and benchmarks."""

    request_id: str
    submitted_step: int
    joined_steps: list[int] = field(default_factory=list)  # one per row the job's text became
    first_audio_step: int | None = None
    finished_step: int | None = None  # set when its last row completed (never for a cancelled job)
    frames: int = 0


TraceT = TypeVar("TraceT", bound=StepTrace)


@dataclass(slots=True)
class BatchStats(Generic[TraceT]):
    """The engine's step counter, the rows that joined, recent batch sizes and the latest jobs' traces."""

    steps: int = 0
    rows_joined: int = 0
    rows_joined_mid_flight: int = 0  # joined while other rows were being decoded
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=4096))
    traces: OrderedDict[str, TraceT] = field(default_factory=OrderedDict)

    def keep(self, trace: TraceT) -> TraceT:
        """Keep `trace` under its request id (unnamed jobs get one of their own), dropping the oldest."""
        self.traces[trace.request_id or f"job-{id(trace)}"] = trace
        while len(self.traces) > TRACE_LIMIT:
            self.traces.popitem(last=False)
        return trace

    def count_step(self, rows: int) -> None:
        """One decoding step of a batch of `rows`."""
        self.steps += 1
        self.batch_sizes.append(rows)

    def count_join(self, *, mid_flight: bool) -> None:
        """A row joined the batch; `mid_flight`: while others were being decoded."""
        self.rows_joined += 1
        self.rows_joined_mid_flight += mid_flight


def synthesize_alone(start: Callable[[Emit], None], step: Callable[[], bool], engine: str) -> Iterator[AudioChunk]:
    """Run one request by itself: `start` submits its job with the given emit, `step` decodes until it ends.
    Raises the job's error, or GenerationFailed if the engine goes idle before the job ends."""
    items: deque[Item] = deque()
    start(items.append)
    while True:
        while items:
            item = items.popleft()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
        if not step() and not items:
            raise GenerationFailed(f"{engine} stopped before this request finished.")


def as_service_error(exc: Exception, engine: str) -> ServiceError:
    """A job's failure in the one error envelope: a ServiceError as it is, anything else as GenerationFailed."""
    if isinstance(exc, ServiceError):
        return exc
    return GenerationFailed(f"{engine} could not synthesise this request: {exc}")


def decoding_error(exc: Exception, engine: str) -> ServiceError:
    """The error a job ends with when its audio could not be decoded (out of GPU memory: freed first)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        free_accelerator_memory()
        return GpuOutOfMemory("The GPU ran out of memory decoding this request's audio; try again.")
    return GenerationFailed(f"{engine} audio decoding failed: {exc}")
