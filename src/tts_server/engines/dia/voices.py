"""Dia's voices: built-in names with fixed seeds, and reference voices as cached audio prompts.

Dia has no named voices: without an audio prompt, the seed (with the text) decides the timbre. Each built-in
name has a fixed seed, with which Dia makes the voice's stored prompt on its first use (dia.voice_prompts); the
prompt then conditions every request with that voice, so it keeps its timbre across texts, requests and
restarts. The voice speaks as the request's speaker ([S1] unless a role says otherwise; Dia's authors advise
starting every text with [S1]). A request's own `seed` varies the new audio only. A voice given a seed of its
own (`voice_seed`) is not stored: within one request its later text segments are conditioned on the first
segment's audio, so a long text keeps one voice, but another text may sound different.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.base import ReferenceAudio, VoiceInfo
from tts_server.engines.reference_clips import ReferenceCache, read_clip, require_transcript
from tts_server.engines.seed_voices import BUILTIN_SEEDS as BUILTIN_SEEDS  # the names, and their seeds in Dia
from tts_server.engines.seed_voices import seed_voice_list

MAX_PROMPT_SECONDS = 25.0  # leaves ~10 s of Dia's 35 s window for new speech; 5-10 s prompts work best


def builtin_voices() -> list[VoiceInfo]:
    return seed_voice_list(
        lambda seed: f"Dia voice (seed {seed}), kept the same by a prompt Dia makes on its first use."
    )


@dataclass(frozen=True, slots=True)
class AudioPrompt:
    """Audio Dia continues from: undelayed codes [frames, channels] and the transcript of that audio."""

    codes: NDArray[np.int64]
    transcript: str  # tagged
    seconds: float


class ReferencePrompts(ReferenceCache[tuple[NDArray[np.int64], float]]):
    """Reference audio encoded to DAC codes once per content hash; a bounded LRU cache."""

    def __init__(self, codec: Any, *, capacity: int = 16) -> None:
        super().__init__(capacity)
        self._codec = codec

    def codes(self, reference: ReferenceAudio) -> tuple[NDArray[np.int64], float]:
        """Codes and duration of `reference`, encoded on first use."""
        require_transcript(reference, reference.transcript, "Dia")
        return self.get(reference, self._encode)

    def _encode(self, reference: ReferenceAudio) -> tuple[NDArray[np.int64], float]:
        rate = int(self._codec.config.sampling_rate)
        decoded = read_clip(
            reference, rate=rate, max_seconds=MAX_PROMPT_SECONDS, engine="Dia", advice="5-10 s works best"
        )
        from tts_server.engines.dia.streaming import encode_audio  # torch: only in the worker

        return encode_audio(self._codec, decoded.samples), decoded.duration
