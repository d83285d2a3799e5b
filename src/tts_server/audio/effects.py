"""Sample-level effects on mono float32 audio: resampling, tempo, joins, pitch, trimming."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction

import av
import numpy as np
from av.filter import Graph
from numpy.typing import NDArray

MIN_SPEED, MAX_SPEED = 0.25, 4.0
_ATEMPO_SPAN = 2.0  # one atempo filter is cleanest between 1/2x and 2x; beyond that, chain several
_PUSH_BLOCK = 1 << 16  # samples per frame fed to filter graphs


def _as_mono(samples: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)


def _frames(samples: NDArray[np.float32], rate: int, first_pts: int = 0) -> Iterator[av.AudioFrame]:
    """Mono `flt` frames with timestamps, in blocks a filter graph digests comfortably."""
    for start in range(0, len(samples), _PUSH_BLOCK):
        frame = av.AudioFrame.from_ndarray(
            samples[start : start + _PUSH_BLOCK].reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = first_pts + start
        yield frame


def _collect(frames: list[av.AudioFrame]) -> NDArray[np.float32]:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32, copy=False)


def resample(samples: NDArray[np.float32], from_rate: int, to_rate: int) -> NDArray[np.float32]:
    """Change the sample rate with libswresample (windowed sinc, 64 taps)."""
    if from_rate <= 0 or to_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    mono = _as_mono(samples)
    if from_rate == to_rate or len(mono) == 0:
        return mono.copy()
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to_rate, options={"filter_size": "64"})
    out: list[av.AudioFrame] = []
    for frame in _frames(mono, from_rate):
        out += resampler.resample(frame)
    out += resampler.resample(None)
    return _collect(out)


def _atempo_factors(speed: float) -> list[float]:
    """Split `speed` into the fewest equal factors that each stay within atempo's clean range."""
    count = max(1, math.ceil(abs(math.log(speed, _ATEMPO_SPAN)) - 1e-9))
    return [speed ** (1 / count)] * count


def time_stretch(samples: NDArray[np.float32], sample_rate: int, speed: float) -> NDArray[np.float32]:
    """Play `speed` times faster (2.0 halves the duration) without changing the pitch."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
    mono = _as_mono(samples)
    if speed == 1.0 or len(mono) == 0:
        return mono
    stretcher = StreamingTimeStretch(sample_rate, speed)
    return np.concatenate([stretcher.push(mono), stretcher.finish()])


class StreamingTimeStretch:
    """time_stretch for audio that arrives in pieces: one filter graph for the whole stream, so there are
    no clicks at chunk seams and no drift from stretching every chunk as if it were a whole clip."""

    def __init__(self, sample_rate: int, speed: float) -> None:
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}")
        self._rate = sample_rate
        self._pts = 0
        self._graph = Graph()
        nodes = [
            self._graph.add_abuffer(
                sample_rate=sample_rate, format="flt", layout="mono", time_base=Fraction(1, sample_rate)
            ),
            *(self._graph.add("atempo", tempo=f"{factor:.6f}") for factor in _atempo_factors(speed)),
            self._graph.add("abuffersink"),
        ]
        self._graph.link_nodes(*nodes).configure()

    def push(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """Stretched audio ready so far (atempo holds back a few milliseconds until more arrives)."""
        mono = _as_mono(samples)
        out: list[av.AudioFrame] = []
        for frame in _frames(mono, self._rate, self._pts):
            self._graph.push(frame)
            out += _drain(self._graph)
        self._pts += len(mono)
        return _collect(out)

    def finish(self) -> NDArray[np.float32]:
        """What atempo still holds once the input has ended."""
        self._graph.push(None)
        return _collect(_drain(self._graph))


def _drain(graph: Graph) -> list[av.AudioFrame]:
    pulled: list[av.AudioFrame] = []
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, EOFError):
            return pulled
        assert isinstance(frame, av.AudioFrame)
        pulled.append(frame)


def crossfade_concat(
    chunks: Sequence[NDArray[np.float32]], sample_rate: int, fade_ms: float = 20.0
) -> NDArray[np.float32]:
    """Join chunks with an equal-power crossfade of `fade_ms` at each seam (shorter if a chunk is).

    Equal power suits the seams between separately generated chunks, whose signals are unrelated:
    a linear fade would dip in loudness midway.
    """
    parts = [_as_mono(chunk) for chunk in chunks if len(chunk)]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    fade = max(0, round(sample_rate * fade_ms / 1000))
    done: list[NDArray[np.float32]] = []
    current = parts[0]
    for following in parts[1:]:
        overlap = min(fade, len(current), len(following))
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap * (np.pi / 2)
        seam = current[len(current) - overlap :] * np.cos(ramp) + following[:overlap] * np.sin(ramp)
        done.append(current[: len(current) - overlap])
        current = np.concatenate((seam.astype(np.float32), following[overlap:]))
    done.append(current)
    return np.concatenate(done)


def trim_silence(samples: NDArray[np.float32], sample_rate: int, threshold_dbfs: float = -45.0) -> NDArray[np.float32]:
    """Drop leading and trailing 10 ms frames whose RMS is below `threshold_dbfs`.

    All-silent input gives an empty array.
    """
    mono = _as_mono(samples)
    hop = max(1, sample_rate // 100)
    loud = np.flatnonzero(_frame_dbfs(mono, hop) >= threshold_dbfs)
    if len(loud) == 0:
        return mono[:0].copy()
    return mono[loud[0] * hop : (loud[-1] + 1) * hop].copy()


def _frame_dbfs(samples: NDArray[np.float32], hop: int) -> NDArray[np.float64]:
    """RMS level of consecutive `hop`-sample frames (the last one zero-padded), in dBFS."""
    padded = np.pad(samples, (0, -len(samples) % hop)).astype(np.float64)
    rms = np.sqrt(np.mean(np.square(padded.reshape(-1, hop)), axis=1))
    level: NDArray[np.float64] = 20 * np.log10(np.maximum(rms, 1e-10))
    return level


_PITCH_RATE = 16_000  # plenty for f0 and keeps the per-frame FFTs small
_PITCH_MIN_HZ, _PITCH_MAX_HZ = 60.0, 500.0  # covers adult and children's voices
_YIN_THRESHOLD = 0.15  # below this, a frame's normalised difference says "periodic"
_MIN_VOICED_FRAMES = 3


def median_pitch_hz(samples: NDArray[np.float32], sample_rate: int) -> float | None:
    """Median fundamental frequency of the voiced 10 ms frames (YIN), or None when nothing is voiced.

    YIN's cumulative-mean-normalised difference picks the first dip below a threshold rather than the
    deepest one, which is what keeps it from locking onto half or double the pitch.
    """
    mono = _as_mono(samples)
    rate = sample_rate
    if rate > _PITCH_RATE:
        mono, rate = resample(mono, rate, _PITCH_RATE), _PITCH_RATE
    lag_min, lag_max = int(rate / _PITCH_MAX_HZ), math.ceil(rate / _PITCH_MIN_HZ)
    frames = _loud_frames(mono, width=2 * lag_max, hop=max(1, rate // 100))
    if len(frames) == 0:
        return None
    cmnd = _cumulative_mean_normalised_difference(frames, window=lag_max)
    lags = [lag for row in cmnd if (lag := _first_dip(row, lag_min)) is not None]
    if len(lags) < _MIN_VOICED_FRAMES:
        return None
    return float(np.median(rate / np.asarray(lags)))


def _loud_frames(samples: NDArray[np.float32], width: int, hop: int) -> NDArray[np.float64]:
    """Overlapping frames, keeping those within 30 dB of the loudest and above -50 dBFS."""
    if len(samples) < width:
        return np.zeros((0, width))
    frames = np.lib.stride_tricks.sliding_window_view(samples, width)[::hop].astype(np.float64)
    level = 10 * np.log10(np.maximum(np.mean(np.square(frames), axis=1), 1e-20))
    loud: NDArray[np.float64] = frames[(level > -50.0) & (level > level.max() - 30.0)]
    return loud


def _cumulative_mean_normalised_difference(frames: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """YIN's d'(tau) for tau in [0, window) for every frame (frame width must be 2 * window).

    d(tau) = sum_j (x_j - x_{j+tau})^2 over j < window, expanded into energies and a cross-correlation
    that one FFT per frame gives for all lags at once.
    """
    width = frames.shape[1]
    size = 1 << (width + window).bit_length()
    spectrum = np.fft.rfft(frames, size) * np.conj(np.fft.rfft(frames[:, :window], size))
    correlation = np.fft.irfft(spectrum, size)[:, :window]
    energy = np.concatenate((np.zeros((len(frames), 1)), np.cumsum(np.square(frames), axis=1)), axis=1)
    lags = np.arange(window)
    shifted_energy = energy[:, lags + window] - energy[:, lags]
    diff = energy[:, [window]] + shifted_energy - 2 * correlation
    running_mean = np.cumsum(diff[:, 1:], axis=1) / lags[1:]
    cmnd: NDArray[np.float64] = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(running_mean, 1e-12)
    return cmnd


def _first_dip(cmnd: NDArray[np.float64], lag_min: int) -> float | None:
    """The first local minimum below the threshold, refined by a parabola through its neighbours."""
    below = np.flatnonzero(cmnd[lag_min:-1] < _YIN_THRESHOLD)
    if len(below) == 0:
        return None
    lag = lag_min + int(below[0])
    while lag + 1 < len(cmnd) - 1 and cmnd[lag + 1] < cmnd[lag]:
        lag += 1
    before, at, after = cmnd[lag - 1], cmnd[lag], cmnd[lag + 1]
    curvature = before - 2 * at + after
    return lag + (0.5 * (before - after) / curvature if curvature > 0 else 0.0)
