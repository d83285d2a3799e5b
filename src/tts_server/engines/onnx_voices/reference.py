"""Approximate cloning for voices that cannot clone: what a reference recording says about pitch and pace.

Piper and Kokoro speak only their trained speakers. From a reference they take what they can: its speaking
rate (words per second of speech, matched through their native speed) and, where there is a choice of
speakers, whether its median pitch is a low or a high voice. Measured once per reference content.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from tts_server.engines.base import ReferenceAudio
from tts_server.engines.speech_pace import reading_pace

log = logging.getLogger(__name__)

LOW_VOICE_BELOW_HZ = 165.0  # median pitch between typical male (~85-155 Hz) and female (~165-255 Hz) speech
_PACE_LIMITS = (0.75, 1.4)  # a speed factor outside this range says more about the recording than the pace
_MAX_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ReferenceTraits:
    median_hz: float | None = None
    words_per_second: float | None = None

    @property
    def low_voice(self) -> bool | None:
        return None if self.median_hz is None else self.median_hz < LOW_VOICE_BELOW_HZ


def speed_to_match(reference_wps: float | None, own_wps: float) -> float:
    """The speed at which a voice speaking `own_wps` words per second keeps the reference's pace."""
    if reference_wps is None or own_wps <= 0:
        return 1.0
    return min(max(reference_wps / own_wps, _PACE_LIMITS[0]), _PACE_LIMITS[1])


class ReferenceReader:
    """ReferenceTraits per reference voice, once per content hash (bounded LRU)."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._cache: OrderedDict[str, ReferenceTraits] = OrderedDict()

    def traits(self, reference: ReferenceAudio) -> ReferenceTraits:
        cached = self._cache.get(reference.content_hash)
        if cached is None:
            cached = self._cache[reference.content_hash] = _measure(reference)
            if len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        self._cache.move_to_end(reference.content_hash)
        return cached


def _measure(reference: ReferenceAudio) -> ReferenceTraits:
    from tts_server.audio.decode import AudioDecodeError, decode_audio
    from tts_server.audio.effects import median_pitch_hz

    try:
        audio = decode_audio(reference.audio_path.read_bytes(), max_seconds=_MAX_SECONDS)
    except (OSError, AudioDecodeError) as exc:
        # Cloning is approximate anyway: speak with the voice as it is rather than fail the request.
        log.warning("reference voice %s unusable, using the voice as it is: %s", reference.voice_id, exc)
        return ReferenceTraits()
    pace = reading_pace(reference.transcript, audio.samples, audio.sample_rate)
    return ReferenceTraits(median_pitch_hz(audio.samples, audio.sample_rate), pace)
