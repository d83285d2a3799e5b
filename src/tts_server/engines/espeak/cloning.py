"""Approximate cloning for espeak: the variant, pitch and rate nearest a reference recording.

espeak cannot copy a timbre, but it can land near the reference's median pitch (picking a male or
female variant and the pitch parameter that reaches it) and near its speaking rate. The numbers are
derived once per reference content and cached; the pitch each variant produces is measured once per
process on espeak's own output, with the same pitch tracker that measures the reference.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.base import ReferenceAudio
from tts_server.engines.espeak.voices import DEFAULT_RATE
from tts_server.engines.speech_pace import CALIBRATION_TEXT as CALIBRATION_TEXT  # espeak.engine speaks it
from tts_server.engines.speech_pace import reading_pace, speech_seconds, word_count

log = logging.getLogger(__name__)

# speak(variant, pitch) -> float32 samples of the calibration text at DEFAULT_RATE, default range.
Speaker = Callable[[str, int], NDArray[np.float32]]

_CALIBRATION_PITCHES = (0, 25, 50, 75, 100)
# A male-sounding and a female-sounding variant, both well recognised; between them they span
# roughly 70-330 Hz of median pitch.
_VARIANTS = ("klatt4", "f2")
_RATE_LIMITS = (100, 300)  # words per minute: keeps odd references (long silences, one word) intelligible
_MAX_REFERENCE_SECONDS = 30.0  # enough for a stable median pitch; bounds the work per new reference


@dataclass(frozen=True, slots=True)
class ReferenceStyle:
    """What a reference changes about the voice; None keeps the base voice's value."""

    variant: str | None = None
    pitch: int | None = None
    rate: int | None = None


@dataclass(frozen=True, slots=True)
class _Calibration:
    pitch_curves: dict[str, tuple[float, ...]]  # variant -> median Hz at each _CALIBRATION_PITCHES value
    words_per_second: float  # espeak's real speaking rate at DEFAULT_RATE


class ReferenceMatcher:
    """Derives a ReferenceStyle per reference voice, once per content hash (bounded LRU)."""

    def __init__(self, speak: Speaker, sample_rate: int, cache_size: int = 128) -> None:
        self._speak = speak
        self._sample_rate = sample_rate
        self._cache_size = cache_size
        self._cache: OrderedDict[str, ReferenceStyle] = OrderedDict()
        self._calibration: _Calibration | None = None

    def style_for(self, reference: ReferenceAudio) -> ReferenceStyle:
        cached = self._cache.get(reference.content_hash)
        if cached is not None:
            self._cache.move_to_end(reference.content_hash)
            return cached
        style = self._derive(reference)
        self._cache[reference.content_hash] = style
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return style

    def _derive(self, reference: ReferenceAudio) -> ReferenceStyle:
        from tts_server.audio.decode import AudioDecodeError, decode_audio
        from tts_server.audio.effects import median_pitch_hz

        try:
            audio = decode_audio(reference.audio_path.read_bytes(), max_seconds=_MAX_REFERENCE_SECONDS)
        except (OSError, AudioDecodeError) as exc:
            # Cloning is approximate anyway: speak with the base voice rather than fail the request.
            log.warning("reference voice %s unusable, using the base voice: %s", reference.voice_id, exc)
            return ReferenceStyle()
        calibration = self._calibrated()
        variant, pitch = self._nearest_pitch(median_pitch_hz(audio.samples, audio.sample_rate), calibration)
        rate = self._matching_rate(reference.transcript, audio.samples, audio.sample_rate, calibration)
        return ReferenceStyle(variant, pitch, rate)

    @staticmethod
    def _nearest_pitch(target_hz: float | None, calibration: _Calibration) -> tuple[str | None, int | None]:
        """The variant that reaches `target_hz` with its pitch parameter nearest its natural 50."""
        if target_hz is None:
            return None, None
        best: tuple[float, str, int] | None = None
        for variant, curve in calibration.pitch_curves.items():
            pitch = float(np.interp(target_hz, curve, _CALIBRATION_PITCHES))
            # Out of the variant's reach counts as far worse than any in-range choice.
            miss = max(curve[0] - target_hz, target_hz - curve[-1], 0.0)
            cost = abs(pitch - 50) + 1000 * miss
            if best is None or cost < best[0]:
                best = (cost, variant, round(pitch))
        assert best is not None
        return best[1], best[2]

    def _matching_rate(
        self, transcript: str, samples: NDArray[np.float32], sample_rate: int, calibration: _Calibration
    ) -> int | None:
        pace = reading_pace(transcript, samples, sample_rate)
        if pace is None:  # too little to measure a rate from
            return None
        rate = DEFAULT_RATE * pace / calibration.words_per_second
        return int(np.clip(round(rate), *_RATE_LIMITS))

    def _calibrated(self) -> _Calibration:
        if self._calibration is None:
            self._calibration = self._calibrate()
        return self._calibration

    def _calibrate(self) -> _Calibration:
        from tts_server.audio.effects import median_pitch_hz

        curves: dict[str, tuple[float, ...]] = {}
        for variant in _VARIANTS:
            measured = [
                median_pitch_hz(self._speak(variant, pitch), self._sample_rate) for pitch in _CALIBRATION_PITCHES
            ]
            if any(hz is None for hz in measured):
                raise RuntimeError(f"could not measure the pitch of espeak variant {variant}")
            # np.interp needs increasing values; pitch rises with the parameter, this only guards noise.
            curves[variant] = tuple(np.maximum.accumulate([float(hz) for hz in measured if hz is not None]))
        plain = self._speak(_VARIANTS[0], 50)
        words_per_second = word_count(CALIBRATION_TEXT) / speech_seconds(plain, self._sample_rate)
        return _Calibration(curves, words_per_second)
