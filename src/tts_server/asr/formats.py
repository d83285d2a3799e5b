"""A transcription in the response formats of OpenAI's POST /v1/audio/transcriptions.

json: {"text"}; text: the plain transcript; verbose_json: task, language, duration, text and segments
with whisper's decoding statistics; srt and vtt: one cue per segment.
"""

from __future__ import annotations

from typing import Any, Literal

from tts_server.asr.transcription import Segment, Transcription
from tts_server.errors import InvalidFormat

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
RESPONSE_FORMATS: tuple[ResponseFormat, ...] = ("json", "text", "verbose_json", "srt", "vtt")

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
SRT_TYPE = "application/x-subrip; charset=utf-8"
VTT_TYPE = "text/vtt; charset=utf-8"


def render_transcription(t: Transcription, fmt: ResponseFormat) -> tuple[str | dict[str, Any], str]:
    """The response body (a dict for the JSON formats, else a string) and its media type."""
    if fmt == "json":
        return {"text": t.text}, JSON_TYPE
    if fmt == "text":
        return t.text + "\n", TEXT_TYPE
    if fmt == "verbose_json":
        return _verbose_json(t), JSON_TYPE
    if fmt == "srt":
        cues = (
            f"{n}\n{timestamp(s.start, ',')} --> {timestamp(s.end, ',')}\n{text}\n\n"
            for n, (s, text) in enumerate(_cues(t.segments), start=1)
        )
        return "".join(cues), SRT_TYPE
    if fmt == "vtt":
        cues = (f"{timestamp(s.start, '.')} --> {timestamp(s.end, '.')}\n{text}\n\n" for s, text in _cues(t.segments))
        return "WEBVTT\n\n" + "".join(cues), VTT_TYPE
    raise InvalidFormat(
        f"Unsupported response_format '{fmt}'. Use one of: {', '.join(RESPONSE_FORMATS)}.", param="response_format"
    )


def timestamp(seconds: float, decimal_marker: str) -> str:
    """HH:MM:SS,mmm (SRT, marker ",") or HH:MM:SS.mmm (WebVTT, marker "."); hours grow past 99."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


def _cues(segments: list[Segment]) -> list[tuple[Segment, str]]:
    """Segments with their cue text: on one line (a blank line would end the cue), no "-->" inside,
    segments without text left out."""
    cues = []
    for s in segments:
        text = " ".join(s.text.split()).replace("-->", "->")
        if text:
            cues.append((s, text))
    return cues


def _verbose_json(t: Transcription) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "language": _language_name(t.language),
        "duration": t.duration,
        "text": t.text,
        "segments": [
            {
                "id": i,
                "seek": s.seek,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": list(s.tokens),
                "temperature": s.temperature,
                "avg_logprob": s.avg_logprob,
                "compression_ratio": s.compression_ratio,
                "no_speech_prob": s.no_speech_prob,
            }
            for i, s in enumerate(t.segments)
        ],
    }


def _language_name(code: str | None) -> str | None:
    """OpenAI's verbose_json names the language in English ("english"); whisper returns a code.

    whisper's table is imported here, not at module level: by the time a transcription is rendered,
    transcribing it has imported whisper already, so this costs nothing on the event loop."""
    if code is None:
        return None
    try:
        from whisper.tokenizer import LANGUAGES
    except ImportError:
        return code
    return str(LANGUAGES.get(code, code))
