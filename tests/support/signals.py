"""Test signals generated in numpy: tones, sweeps, harmonic 'voices', noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> NDArray[np.float32]:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def harmonic_tone(f0: float, seconds: float, rate: int, harmonics: int = 10) -> NDArray[np.float32]:
    """A buzzy, voice-like tone: the fundamental plus harmonics falling off as 1/k."""
    t = np.arange(round(seconds * rate)) / rate
    kept = [k for k in range(1, harmonics + 1) if k * f0 < rate / 2]
    wave: NDArray[np.float64] = np.sum([np.sin(2 * np.pi * k * f0 * t) / k for k in kept], axis=0)
    return (0.3 * wave / float(np.abs(wave).max())).astype(np.float32)


def sweep(seconds: float, rate: int, low: float = 100.0, high: float = 8_000.0) -> NDArray[np.float32]:
    """An exponential sine sweep from `low` to `high` Hz."""
    t = np.arange(round(seconds * rate)) / rate
    k = float(np.log(high / low)) / seconds
    return (0.5 * np.sin(2 * np.pi * low * (np.exp(k * t) - 1) / k)).astype(np.float32)


def noise(seconds: float, rate: int, amplitude: float = 0.1, seed: int = 0) -> NDArray[np.float32]:
    return (amplitude * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(np.float32)


def peak_frequency(samples: NDArray[np.float32], rate: int) -> float:
    """The strongest frequency, from a Hann-windowed FFT with parabolic refinement."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    i = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[i - 1 : i + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return float((i + offset) * rate / len(samples))


def dbfs(samples: NDArray[np.float32]) -> float:
    return float(20 * np.log10(max(float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))), 1e-10)))
