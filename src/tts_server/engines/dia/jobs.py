"""What the Dia engine keeps per request: the job, its rows (one per text segment), its trace, and the stats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.batch_jobs import BatchStats, EmittingJob, StepTrace
from tts_server.engines.dia.delay import DelayedGrid
from tts_server.engines.dia.generation import RowSampling
from tts_server.engines.dia.streaming import SegmentJoiner, StreamingCodec
from tts_server.engines.dia.voices import AudioPrompt

# Dia's authors' defaults (temperature 1.2, top-p 0.95, CFG top-k 45, CFG scale 3.0).
DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_TOP_K, DEFAULT_CFG_SCALE = 1.2, 0.95, 45, 3.0


@dataclass(slots=True)
class JobTrace(StepTrace):
    """A Dia job's trace: `joined_steps` has one entry per text segment."""

    prompt_frames: list[int] = field(default_factory=list)  # audio prompt each segment was conditioned on
    segments: int = 0


@dataclass(eq=False)
class DiaJob(EmittingJob):
    segments: list[str] = field(default_factory=list)
    # conditions every segment (a reference, a built-in voice's stored prompt), or, set after the first segment,
    # the later ones (a seed of its own: the first segment's audio keeps a long text in one voice)
    prompt: AudioPrompt | None = None
    seed: int = 0
    next_segment: int = 0
    joiner: SegmentJoiner | None = None
    trace: JobTrace | None = None
    # receives the codes [frames, channels] of the job's first segment when it completes (voice prompts)
    codes_sink: Callable[[NDArray[np.int64]], None] | None = None


@dataclass(eq=False)
class SegmentRow:
    job: DiaJob
    index: int
    text: str
    grid: DelayedGrid
    stream: StreamingCodec
    joined_step: int


class DiaStats(BatchStats[JobTrace]):
    """Dia's step counter, joined rows, batch sizes and traces (engines.batch_jobs)."""

    __slots__ = ()


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
