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

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tts_server.audio.decode import AudioDecodeError, decode_audio
from tts_server.engines.base import ReferenceAudio, VoiceInfo
from tts_server.errors import AudioProcessingError, InvalidRequest

# name -> seed. The names are the built-in engine's, so every client's voice list works with either engine.
BUILTIN_SEEDS: dict[str, int] = {
    "default": 1234,
    "aria": 2001,
    "atlas": 2002,
    "luna": 2003,
    "kai": 2004,
    "zara": 2005,
    "nova": 2006,
    "alloy": 3001,
    "ash": 3002,
    "ballad": 3003,
    "coral": 3004,
    "echo": 3005,
    "fable": 3006,
    "onyx": 3007,
    "sage": 3008,
    "shimmer": 3009,
    "verse": 3010,
    "marin": 3011,
    "cedar": 3012,
}

MAX_PROMPT_SECONDS = 25.0  # leaves ~10 s of Dia's 35 s window for new speech; 5-10 s prompts work best


def builtin_voices() -> list[VoiceInfo]:
    return [
        VoiceInfo(
            voice_id=name,
            name=name.capitalize(),
            description=f"Dia voice (seed {seed}), kept the same by a prompt Dia makes on its first use.",
        )
        for name, seed in BUILTIN_SEEDS.items()
    ]


@dataclass(frozen=True, slots=True)
class AudioPrompt:
    """Audio Dia continues from: undelayed codes [frames, channels] and the transcript of that audio."""

    codes: NDArray[np.int64]
    transcript: str  # tagged
    seconds: float


class ReferencePrompts:
    """Reference audio encoded to DAC codes once per content hash; a bounded LRU cache."""

    def __init__(self, codec: Any, *, capacity: int = 16) -> None:
        self._codec = codec
        self._capacity = capacity
        self._codes: OrderedDict[str, tuple[NDArray[np.int64], float]] = OrderedDict()
        self.encodings = 0  # how many references were encoded (the rest came from the cache)

    def codes(self, reference: ReferenceAudio) -> tuple[NDArray[np.int64], float]:
        """Codes and duration of `reference`, encoded on first use."""
        if not reference.transcript.strip():  # before the cache: another voice may share this audio
            raise InvalidRequest(
                f"Reference voice '{reference.voice_id}' has no transcript; Dia needs the words of the reference "
                "to clone it. Add a transcript to the voice (or upload it with auto-transcription on).",
                param="voice",
            )
        cached = self._codes.get(reference.content_hash)
        if cached is not None:
            self._codes.move_to_end(reference.content_hash)
            return cached
        if reference.duration > MAX_PROMPT_SECONDS:
            raise AudioProcessingError(
                f"Reference voice '{reference.voice_id}' is {reference.duration:.1f} s long; Dia clones from at most "
                f"{MAX_PROMPT_SECONDS:.0f} s (5-10 s works best). Upload a shorter clip.",
                param="voice",
            )
        rate = int(self._codec.config.sampling_rate)
        try:
            decoded = decode_audio(reference.audio_path.read_bytes(), target_rate=rate, max_seconds=MAX_PROMPT_SECONDS)
        except (OSError, AudioDecodeError) as exc:
            raise AudioProcessingError(f"Reference voice '{reference.voice_id}' could not be read: {exc}") from exc
        from tts_server.engines.dia.streaming import encode_audio  # torch: only in the worker

        entry = (encode_audio(self._codec, decoded.samples), decoded.duration)
        self.encodings += 1
        self._codes[reference.content_hash] = entry
        if len(self._codes) > self._capacity:
            self._codes.popitem(last=False)
        return entry
