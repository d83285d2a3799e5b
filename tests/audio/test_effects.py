"""Effects measured on real signals: durations, spectral peaks, levels, estimated pitch."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.signals import dbfs, harmonic_tone, noise, peak_frequency, sweep, tone
from tts_server.audio.effects import crossfade_concat, median_pitch_hz, resample, time_stretch, trim_silence

RATE = 24_000


@pytest.mark.parametrize(("source", "target"), [(24_000, 16_000), (24_000, 44_100), (44_100, 48_000)])
def test_resample_keeps_duration_and_pitch(source: int, target: int) -> None:
    out = resample(tone(440, 1.0, source), source, target)
    assert out.dtype == np.float32
    assert abs(len(out) - target) <= 1
    assert peak_frequency(out, target) == pytest.approx(440, rel=0.005)
    assert dbfs(out) == pytest.approx(dbfs(tone(440, 1.0, target)), abs=0.2)


def test_resample_filters_what_the_new_rate_cannot_hold() -> None:
    """A 10 kHz tone has no place at 16 kHz (Nyquist 8 kHz): it must vanish, not fold down to 6 kHz."""
    out = resample(tone(10_000, 1.0, 48_000), 48_000, 16_000)
    assert dbfs(out) < dbfs(tone(10_000, 1.0, 48_000)) - 40


def test_resample_to_the_same_rate_is_a_copy() -> None:
    signal = noise(0.5, RATE)
    out = resample(signal, RATE, RATE)
    np.testing.assert_array_equal(out, signal)
    assert out is not signal


@pytest.mark.parametrize("speed", [0.25, 0.5, 0.8, 1.25, 2.0, 3.0, 4.0])
def test_time_stretch_changes_duration_not_pitch(speed: float) -> None:
    signal = tone(220, 2.0, RATE)
    out = time_stretch(signal, RATE, speed)
    assert len(out) / len(signal) == pytest.approx(1 / speed, rel=0.03)
    assert peak_frequency(out, RATE) == pytest.approx(220, rel=0.02)


def test_time_stretch_keeps_a_voice_like_tone() -> None:
    out = time_stretch(harmonic_tone(150, 2.0, RATE), RATE, 2.0)
    assert len(out) == pytest.approx(RATE, rel=0.03)
    assert median_pitch_hz(out, RATE) == pytest.approx(150, rel=0.03)


def test_time_stretch_at_normal_speed_returns_the_input() -> None:
    signal = sweep(0.5, RATE)
    np.testing.assert_array_equal(time_stretch(signal, RATE, 1.0), signal)


@pytest.mark.parametrize("speed", [0.1, 0.2, 4.5, 0.0, -1.0])
def test_time_stretch_refuses_speeds_out_of_range(speed: float) -> None:
    with pytest.raises(ValueError, match=r"speed must be between 0\.25 and 4\.0"):
        time_stretch(tone(220, 0.5, RATE), RATE, speed)


def test_crossfade_overlaps_each_seam() -> None:
    chunks = [tone(220, 0.5, RATE), tone(330, 0.3, RATE), tone(440, 0.4, RATE)]
    out = crossfade_concat(chunks, RATE, fade_ms=20)
    fade = round(0.020 * RATE)
    assert len(out) == sum(len(c) for c in chunks) - 2 * fade
    np.testing.assert_array_equal(out[: len(chunks[0]) - fade], chunks[0][:-fade])


def test_crossfade_removes_the_click_at_a_seam() -> None:
    high, low = np.full(RATE // 2, 0.5, np.float32), np.full(RATE // 2, -0.5, np.float32)
    assert np.max(np.abs(np.diff(np.concatenate([high, low])))) == 1.0
    assert np.max(np.abs(np.diff(crossfade_concat([high, low], RATE, fade_ms=20)))) < 0.01


def test_crossfade_keeps_loudness_through_the_seam() -> None:
    """Equal power: two unrelated signals blend without a dip in level."""
    first, second = noise(1.0, RATE, seed=1), noise(1.0, RATE, seed=2)
    out = crossfade_concat([first, second], RATE, fade_ms=100)
    seam = out[len(first) - round(0.1 * RATE) : len(first)]
    assert dbfs(seam) == pytest.approx(dbfs(first), abs=1.0)


def test_crossfade_edge_cases() -> None:
    assert len(crossfade_concat([], RATE)) == 0
    single = tone(220, 0.2, RATE)
    np.testing.assert_array_equal(crossfade_concat([single], RATE), single)
    short = tone(220, 0.005, RATE)  # shorter than the fade
    out = crossfade_concat([single, short, np.zeros(0, np.float32), single], RATE, fade_ms=20)
    assert len(out) == 2 * len(single) + len(short) - 2 * len(short)
    np.testing.assert_array_equal(crossfade_concat([single, single], RATE, fade_ms=0), np.tile(single, 2))


@pytest.mark.parametrize(("f0", "rate"), [(150, 24_000), (250, 24_000), (110, 44_100), (320, 16_000)])
def test_median_pitch_of_a_harmonic_tone(f0: float, rate: int) -> None:
    assert median_pitch_hz(harmonic_tone(f0, 2.0, rate), rate) == pytest.approx(f0, rel=0.05)


def test_median_pitch_ignores_pauses_and_follows_the_majority() -> None:
    pause = np.zeros(RATE // 2, np.float32)
    speech = np.concatenate([pause, harmonic_tone(140, 1.5, RATE), pause, harmonic_tone(180, 0.5, RATE), pause])
    assert median_pitch_hz(speech, RATE) == pytest.approx(140, rel=0.05)


@pytest.mark.parametrize(
    "samples",
    [np.zeros(RATE, np.float32), noise(1.0, RATE), np.zeros(0, np.float32), tone(220, 0.01, RATE)],
    ids=["silence", "noise", "empty", "too-short"],
)
def test_median_pitch_is_none_without_a_voice(samples: np.ndarray) -> None:
    assert median_pitch_hz(samples, RATE) is None


def test_trim_silence_cuts_quiet_edges_only() -> None:
    body = tone(220, 1.0, RATE)
    hiss = noise(0.5, RATE, amplitude=0.0003)  # about -70 dBFS
    out = trim_silence(np.concatenate([hiss, body, hiss]), RATE)
    assert len(out) == pytest.approx(len(body), abs=0.02 * RATE)
    assert dbfs(out) == pytest.approx(dbfs(body), abs=0.2)
    assert len(trim_silence(body, RATE)) == len(body)
    assert len(trim_silence(np.zeros(RATE, np.float32), RATE)) == 0
    pause = np.zeros(RATE // 2, np.float32)
    assert len(trim_silence(np.concatenate([body, pause, body]), RATE)) == 2 * len(body) + len(pause)
