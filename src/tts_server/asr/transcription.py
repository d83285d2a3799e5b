"""What a transcription is, and how whisper is asked for one and its answer read back.

Whisper's result is a dict; a `Transcription` is what the server keeps of it (text, language, duration and the
timed segments with their decoding statistics), which the response formats (formats.py) render. Also here:
the temperature fallback schedule and the language check that shape each call. Nothing here imports whisper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from tts_server.errors import InvalidRequest

if TYPE_CHECKING:
    from whisper.model import Whisper

# The temperature step of whisper's fallback schedule (as its CLI's --temperature_increment_on_fallback).
_FALLBACK_STEP = 0.2


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the transcript, times in seconds from the start of the audio.

    Fields after `text` are whisper's decoding statistics, reported by OpenAI's verbose_json.
    """

    start: float
    end: float
    text: str
    tokens: tuple[int, ...] = ()
    seek: int = 0
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0


@dataclass(frozen=True, slots=True)
class Transcription:
    text: str
    language: str | None  # ISO 639-1 code as whisper names it ("en", "de", "haw")
    duration: float  # seconds of audio transcribed
    segments: list[Segment]


def temperature_schedule(temperature: float) -> tuple[float, ...]:
    """The temperatures to try in turn, as OpenAI's API and whisper's CLI do: start at `temperature`
    and step up while a window's decoding looks like a failure (repetitive, or improbable)."""
    steps = np.arange(temperature, 1.0 + 1e-6, _FALLBACK_STEP)
    return tuple(round(float(t), 6) for t in steps) or (temperature,)


def language_code(whisper: ModuleType, model: Whisper, language: str) -> str:
    """The whisper code of a language given as a code or an English name; InvalidRequest otherwise."""
    key = language.strip().lower()
    code = key if key in whisper.tokenizer.LANGUAGES else whisper.tokenizer.TO_LANGUAGE_CODE.get(key)
    if code is None:
        raise InvalidRequest(
            f"Unsupported language '{language}'. Use an ISO 639-1 code such as 'en' or 'de'.", param="language"
        )
    if code != "en" and not model.is_multilingual:
        raise InvalidRequest(
            f"The Whisper model is English-only; it cannot transcribe language '{language}'.", param="language"
        )
    return str(code)


def segment_from(raw: Mapping[str, Any], duration: float) -> Segment:
    """A segment of whisper's result, its times kept within the audio."""
    # Whisper's timestamps count in whole tokens of its 30 s window and can overshoot the audio's end.
    start = min(max(0.0, float(raw["start"])), duration)
    end = min(max(start, float(raw["end"])), duration)
    return Segment(
        start=start,
        end=end,
        text=str(raw["text"]).strip(),
        tokens=tuple(int(t) for t in raw.get("tokens", ())),
        seek=int(raw.get("seek", 0)),
        temperature=float(raw.get("temperature", 0.0)),
        avg_logprob=float(raw.get("avg_logprob", 0.0)),
        compression_ratio=float(raw.get("compression_ratio", 0.0)),
        no_speech_prob=float(raw.get("no_speech_prob", 0.0)),
    )
