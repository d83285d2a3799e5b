"""What the Dia engine keeps per request: the job, its rows (one per text segment), its trace, and the stats."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.base import AudioChunk, CancelToken, SynthesisRequest
from tts_server.engines.dia_delay import DelayedGrid
from tts_server.engines.dia_streaming import SegmentJoiner, StreamingCodec
from tts_server.engines.dia_voices import AudioPrompt

Emit = Callable[[AudioChunk | BaseException | None], None]


@dataclass(slots=True)
class JobTrace:
    """Where a job's life fell on the engine's step counter, for tests, /stats and benchmarks."""

    request_id: str
    submitted_step: int
    joined_steps: list[int] = field(default_factory=list)  # one per segment
    prompt_frames: list[int] = field(default_factory=list)  # audio prompt each segment was conditioned on
    first_audio_step: int | None = None
    finished_step: int | None = None  # set when its last segment completed (never for a cancelled job)
    frames: int = 0
    segments: int = 0


@dataclass(eq=False)
class DiaJob:
    request: SynthesisRequest
    emit: Emit
    cancel: CancelToken = field(default_factory=CancelToken)
    segments: list[str] = field(default_factory=list)
    # conditions every segment (a reference, a built-in voice's stored prompt), or, set after the first segment,
    # the later ones (a seed of its own: the first segment's audio keeps a long text in one voice)
    prompt: AudioPrompt | None = None
    seed: int = 0
    next_segment: int = 0
    finished: bool = False
    joiner: SegmentJoiner | None = None
    trace: JobTrace | None = None
    # receives the codes [frames, channels] of the job's first segment when it completes (voice prompts)
    codes_sink: Callable[[NDArray[np.int64]], None] | None = None

    def end(self, error: BaseException | None = None) -> None:
        if not self.finished:
            self.finished = True
            self.emit(error)


@dataclass(eq=False)
class SegmentRow:
    job: DiaJob
    index: int
    text: str
    grid: DelayedGrid
    stream: StreamingCodec
    joined_step: int


@dataclass(slots=True)
class DiaStats:
    steps: int = 0
    rows_joined: int = 0
    rows_joined_mid_flight: int = 0  # joined while other rows were being decoded
    batch_sizes: deque[int] = field(default_factory=lambda: deque(maxlen=4096))
    traces: OrderedDict[str, JobTrace] = field(default_factory=OrderedDict)
