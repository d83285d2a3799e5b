"""OpenAI transcription response formats, on hand-made transcriptions (no whisper needed)."""

from __future__ import annotations

import importlib.util

import pytest

from tts_server.asr.formats import render_transcription, timestamp
from tts_server.asr.transcription import Segment, Transcription
from tts_server.errors import InvalidFormat

T = Transcription(
    text="Hello there. General -> Kenobi",
    language="en",
    duration=3662.5,
    segments=[
        Segment(0.0, 2.5, " Hello there.", tokens=(50364, 2425), avg_logprob=-0.25, compression_ratio=0.9),
        Segment(2.5, 2.5, ""),  # whisper blanks instantaneous segments: no cue for it
        Segment(2.5, 3661.0456, " General -->\n\nKenobi ", seek=3000, temperature=0.2, no_speech_prob=0.01),
    ],
)


def test_json() -> None:
    assert render_transcription(T, "json") == ({"text": "Hello there. General -> Kenobi"}, "application/json")


def test_text() -> None:
    assert render_transcription(T, "text") == ("Hello there. General -> Kenobi\n", "text/plain; charset=utf-8")


def test_srt() -> None:
    body, media_type = render_transcription(T, "srt")
    assert body == "".join(
        [
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n",
            "2\n00:00:02,500 --> 01:01:01,046\nGeneral -> Kenobi\n\n",
        ]
    )
    assert media_type == "application/x-subrip; charset=utf-8"


def test_vtt() -> None:
    body, media_type = render_transcription(T, "vtt")
    assert body == "".join(
        [
            "WEBVTT\n\n",
            "00:00:00.000 --> 00:00:02.500\nHello there.\n\n",
            "00:00:02.500 --> 01:01:01.046\nGeneral -> Kenobi\n\n",
        ]
    )
    assert media_type == "text/vtt; charset=utf-8"


def test_verbose_json() -> None:
    body, media_type = render_transcription(T, "verbose_json")
    assert media_type == "application/json"
    # OpenAI names the language in English; the table comes with whisper, else the code stays.
    language = "english" if importlib.util.find_spec("whisper") else "en"
    assert body == {
        "task": "transcribe",
        "language": language,
        "duration": 3662.5,
        "text": "Hello there. General -> Kenobi",
        "segments": [
            {
                "id": 0,
                "seek": 0,
                "start": 0.0,
                "end": 2.5,
                "text": " Hello there.",
                "tokens": [50364, 2425],
                "temperature": 0.0,
                "avg_logprob": -0.25,
                "compression_ratio": 0.9,
                "no_speech_prob": 0.0,
            },
            {
                "id": 1,
                "seek": 0,
                "start": 2.5,
                "end": 2.5,
                "text": "",
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            },
            {
                "id": 2,
                "seek": 3000,
                "start": 2.5,
                "end": 3661.0456,
                "text": " General -->\n\nKenobi ",
                "tokens": [],
                "temperature": 0.2,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.01,
            },
        ],
    }


def test_empty_transcription() -> None:
    empty = Transcription(text="", language=None, duration=0.0, segments=[])
    assert render_transcription(empty, "json")[0] == {"text": ""}
    assert render_transcription(empty, "text")[0] == "\n"
    assert render_transcription(empty, "srt")[0] == ""
    assert render_transcription(empty, "vtt")[0] == "WEBVTT\n\n"
    verbose = render_transcription(empty, "verbose_json")[0]
    assert isinstance(verbose, dict) and verbose["language"] is None and verbose["segments"] == []


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0.0, "00:00:00,000", "00:00:00.000"),
        (0.0004, "00:00:00,000", "00:00:00.000"),
        (0.0005, "00:00:00,000", "00:00:00.000"),  # round half to even on the millisecond
        (1.2345678, "00:00:01,235", "00:00:01.235"),
        (59.9996, "00:01:00,000", "00:01:00.000"),  # rounding carries into minutes
        (3599.9999, "01:00:00,000", "01:00:00.000"),
        (45296.789, "12:34:56,789", "12:34:56.789"),
        (360000.0, "100:00:00,000", "100:00:00.000"),
        (-0.5, "00:00:00,000", "00:00:00.000"),
    ],
)
def test_timestamps(seconds: float, srt: str, vtt: str) -> None:
    assert timestamp(seconds, ",") == srt
    assert timestamp(seconds, ".") == vtt


def test_unknown_format() -> None:
    with pytest.raises(InvalidFormat, match="response_format") as info:
        render_transcription(T, "tsv")  # type: ignore[arg-type]
    assert info.value.param == "response_format" and info.value.status_code == 400
