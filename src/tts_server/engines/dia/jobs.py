"""What the Dia engine keeps per request: the job, its rows (one per text segment), its trace, and the stats."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from tts_server.engines.base import AudioChunk, CancelToken, SynthesisRequest
from tts_server.engines.dia.delay import DelayedGrid
from tts_server.engines.dia.generation import RowSampling
from tts_server.engines.dia.streaming import SegmentJoiner, StreamingCodec
from tts_server.engines.dia.voices import AudioPrompt
from tts_server.engines.torch_device import free_accelerator_memory
from tts_server.errors import GenerationFailed, GpuOutOfMemory, ServiceError

Emit = Callable[[AudioChunk | BaseException | None], None]

# Dia's authors' defaults (temperature 1.2, top-p 0.95, CFG top-k 45, CFG scale 3.0).
DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_TOP_K, DEFAULT_CFG_SCALE = 1.2, 0.95, 45, 3.0


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


def row_sampling(job: DiaJob, index: int) -> RowSampling:
    """The sampling of the job's segment `index`: the request's, else Dia's authors' defaults."""
    params = job.request.sampling
    return RowSampling(
        temperature=DEFAULT_TEMPERATURE if params.temperature is None else params.temperature,
        top_p=DEFAULT_TOP_P if params.top_p is None else params.top_p,
        top_k=DEFAULT_TOP_K if params.top_k is None else params.top_k,
        cfg_scale=DEFAULT_CFG_SCALE if params.cfg_scale is None else params.cfg_scale,
        seed=job.seed + index,
    )


def as_service_error(exc: Exception) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    return GenerationFailed(f"Dia could not synthesise this request: {exc}")


def decoding_error(exc: Exception) -> ServiceError:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        free_accelerator_memory()
        return GpuOutOfMemory("The GPU ran out of memory decoding this request's audio; try again.")
    return GenerationFailed(f"Dia audio decoding failed: {exc}")
