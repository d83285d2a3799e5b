"""How fast a voice speaks: words per second of speech, silence trimmed.

The engines that cannot copy a timbre (espeak, Piper, Kokoro) still match a reference's pace: they measure
the reference's words per second from its transcript and audio, and their own from a calibration sentence
spoken at speed 1, and set their speed to the ratio.
"""

from __future__ import annotations

import re

import numpy as np
from numpy.typing import NDArray

CALIBRATION_TEXT = "The quick brown fox jumps over the lazy dog, and then it runs far away."
_MIN_WORDS = 3  # fewer words say too little to measure a pace from


def word_count(text: str) -> int:
    return len(re.findall(r"\w+(?:'\w+)?", text))


def speech_seconds(samples: NDArray[np.float32], sample_rate: int) -> float:
    """Seconds of `samples` once the silence around it is trimmed."""
    from tts_server.audio.effects import trim_silence

    return len(trim_silence(samples, sample_rate)) / sample_rate


def reading_pace(transcript: str, samples: NDArray[np.float32], sample_rate: int) -> float | None:
    """Words per second in a recording of `transcript`; None when it is too short or silent to tell."""
    words, seconds = word_count(transcript), speech_seconds(samples, sample_rate)
    return words / seconds if words >= _MIN_WORDS and seconds > 0 else None


def calibration_pace(audio: NDArray[np.float32], sample_rate: int) -> float:
    """Words per second of `audio`, a voice speaking CALIBRATION_TEXT at speed 1 (0.0 when it is silent)."""
    seconds = speech_seconds(audio, sample_rate)
    return word_count(CALIBRATION_TEXT) / seconds if seconds > 0 else 0.0
