"""What the S1-mini engine keeps per request and per row of its batch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.batch_jobs import BatchStats, EmittingJob, StepTrace
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.engines.s1.streaming import ChunkJoiner, RowAudio


@dataclass(slots=True)
class JobTrace(StepTrace):
    """An S1-mini job's trace: `joined_steps` has one entry per text chunk."""

    chunks: int = 0
    waited_for_voice: bool = False


@dataclass(eq=False)
class S1Job(EmittingJob):
    """One request: its text chunks, each spoken by one row in turn, all in one voice."""

    chunks: list[str] = field(default_factory=list)
    voice: VoicePrompt | None = None  # the prompt every chunk continues; None: no voice yet / none at all
    voice_seed: int | None = None  # a named voice (its kept sample conditions the chunks)
    seed: int = 0
    next_chunk: int = 0
    joiner: ChunkJoiner | None = None
    trace: JobTrace = field(default_factory=lambda: JobTrace("", 0))


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
class S1Stats(BatchStats[JobTrace]):
    """S1-mini's step counter, joined rows, batch sizes and traces (engines.batch_jobs), and its voice samples."""

    voice_samples: int = 0  # named voices generated (not read from disk or memory)

    def trace(self, request_id: str) -> JobTrace:
        """A new job's trace, kept."""
        return self.keep(JobTrace(request_id, submitted_step=self.steps))
