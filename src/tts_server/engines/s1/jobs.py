"""What the S1-mini engine keeps per request and per row of its batch."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.base import AudioChunk, CancelToken, SynthesisRequest
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.engines.s1.streaming import ChunkJoiner, RowAudio

Emit = Callable[[AudioChunk | BaseException | None], None]
TRACE_LIMIT = 256


@dataclass(slots=True)
class JobTrace:
    """Where a job's life fell on the engine's step counter, for tests, /stats and benchmarks."""

    request_id: str
    submitted_step: int
    joined_steps: list[int] = field(default_factory=list)  # one per text chunk
    first_audio_step: int | None = None
    finished_step: int | None = None
    frames: int = 0
    chunks: int = 0
    waited_for_voice: bool = False


@dataclass(eq=False)
class S1Job:
    """One request: its text chunks, each spoken by one row in turn, all in one voice."""

    request: SynthesisRequest
    emit: Emit
    cancel: CancelToken = field(default_factory=CancelToken)
    chunks: list[str] = field(default_factory=list)
    voice: VoicePrompt | None = None  # the prompt every chunk continues; None: no voice yet / none at all
    voice_seed: int | None = None  # a named voice (its kept sample conditions the chunks)
    seed: int = 0
    next_chunk: int = 0
    finished: bool = False
    joiner: ChunkJoiner | None = None
    trace: JobTrace = field(default_factory=lambda: JobTrace("", 0))

    def end(self, error: BaseException | None = None) -> None:
        if not self.finished:
            self.finished = True
            self.emit(error)


@dataclass(eq=False)
class SpeechRow:
    """A row speaking chunk `index` of its job."""

    job: S1Job
    index: int
    audio: RowAudio
    max_frames: int
    joined_step: int

    @property
    def cancelled(self) -> bool:
        return self.job.cancel.cancelled


@dataclass(eq=False)
class VoiceSampleRow:
    """A row making a named voice's sample; the jobs that need the voice wait for it."""

    seed: int
    max_frames: int
    joined_step: int
    waiting: list[S1Job] = field(default_factory=list)
    codes: list[NDArray[np.int64]] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return all(job.cancel.cancelled for job in self.waiting)


Row = SpeechRow | VoiceSampleRow


@dataclass(slots=True)
class S1Stats:
    steps: int = 0
    rows_joined: int = 0
    rows_joined_mid_flight: int = 0  # joined while other rows were being decoded
    voice_samples: int = 0  # named voices generated (not read from disk or memory)
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=4096))
    traces: OrderedDict[str, JobTrace] = field(default_factory=OrderedDict)

    def trace(self, request_id: str) -> JobTrace:
        trace = JobTrace(request_id, submitted_step=self.steps)
        self.traces[request_id or f"job-{id(trace)}"] = trace
        while len(self.traces) > TRACE_LIMIT:
            self.traces.popitem(last=False)
        return trace
