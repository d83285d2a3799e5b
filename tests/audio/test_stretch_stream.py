"""Stretching a stream chunk by chunk keeps the length and pitch of stretching the whole clip."""

from __future__ import annotations

import numpy as np
import pytest

from tts_server.audio.effects import StreamingTimeStretch, median_pitch_hz, time_stretch

RATE = 24_000


def harmonic_tone(seconds: float, f0: float = 180.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.15 * np.sin(4 * np.pi * f0 * t)).astype(np.float32)


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.5, 2.0, 3.0])
def test_chunked_stream_matches_whole_clip(speed: float) -> None:
    tone = harmonic_tone(4.0)
    whole = time_stretch(tone, RATE, speed)
    stretcher = StreamingTimeStretch(RATE, speed)
    pieces = [stretcher.push(chunk) for chunk in np.array_split(tone, 17)]
    streamed = np.concatenate([*pieces, stretcher.finish()])
    assert len(streamed) == pytest.approx(len(tone) / speed, rel=0.01)
    assert len(streamed) == pytest.approx(len(whole), rel=0.005)
    assert median_pitch_hz(streamed, RATE) == pytest.approx(180.0, rel=0.05)
