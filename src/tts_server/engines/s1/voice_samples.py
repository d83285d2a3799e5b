"""Named voices whose sample is being made: one row per voice, and the jobs that wait for it.

A named voice (a seed) has no kept sample until a request first needs it; then a row of its own speaks
`VOICE_SAMPLE_TEXT`, every job needing the voice meanwhile waits for that row, and the row's codes are kept
(voices.KeptVoices) as the prompt those jobs, and every later one, continue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from tts_server.engines.s1.jobs import S1Job, VoiceSampleRow
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.engines.s1.voices import VOICE_SAMPLE_TEXT, KeptVoices


class VoiceSamples:
    """The samples being made, by seed; owned by the engine's worker thread."""

    def __init__(self, kept: KeptVoices, max_frames: int) -> None:
        self.kept = kept
        self.max_frames = max_frames
        self._making: dict[int, VoiceSampleRow] = {}  # named voices being made, by seed
        self._new: deque[VoiceSampleRow] = deque()  # ... and of those, the ones still to join

    def wait(self, job: S1Job, seed: int, step: int) -> None:
        """The job's named voice has no kept sample yet: one row makes it, every job needing it waits."""
        job.trace.waited_for_voice = True
        sample = self._making.get(seed)
        if sample is None:
            sample = VoiceSampleRow(seed, self.max_frames, joined_step=step)
            self._making[seed] = sample
            self._new.append(sample)
        sample.waiting.append(job)

    def to_join(self) -> Iterator[VoiceSampleRow]:
        """The rows still to join the batch, one at a time; a row every waiting job has left is dropped."""
        while self._new:
            sample = self._new.popleft()
            if sample.cancelled:
                self._making.pop(sample.seed, None)
                continue
            yield sample

    def keep(self, sample: VoiceSampleRow) -> VoicePrompt | None:
        """A finished row's codes kept as its voice's prompt; None when the row made no frames."""
        self.forget(sample)
        if not sample.codes:
            return None
        prompt = VoicePrompt(VOICE_SAMPLE_TEXT, np.stack(sample.codes, axis=1))
        self.kept.keep(sample.seed, prompt)
        return prompt

    def forget(self, sample: VoiceSampleRow) -> None:
        """The row ended without a sample (dropped or failed)."""
        self._making.pop(sample.seed, None)

    def clear(self) -> None:
        self._making.clear()
        self._new.clear()
