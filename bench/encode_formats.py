"""Encoding cost per response format: 10 s of 24 kHz speech-like audio, whole clip and streamed.

Run: .venv/bin/python bench/encode_formats.py   (results recorded in bench/encode_formats.md)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray

from tts_server.audio.encode import AudioFormat, StreamEncoder, encode_audio

RATE = 24_000
SECONDS = 10
CHUNK = RATE // 10  # 100 ms, a typical engine chunk
REPEATS = 7


def speech_like(seconds: int, rate: int) -> NDArray[np.float32]:
    """A gliding 120-220 Hz harmonic voice with syllable-rate loudness and a little breath noise."""
    t = np.arange(seconds * rate) / rate
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    noise = 0.02 * np.random.default_rng(0).standard_normal(len(t))
    return (0.25 * voice * envelope + noise).astype(np.float32)


def best_ms(run: Callable[[], object]) -> float:
    run()  # warm-up: codec initialisation, page faults
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return 1000 * min(timings)


def streamed(samples: NDArray[np.float32], fmt: AudioFormat) -> bytes:
    encoder = StreamEncoder(fmt, RATE)
    parts = [encoder.encode(samples[i : i + CHUNK]) for i in range(0, len(samples), CHUNK)]
    return b"".join(parts) + encoder.finish()


def main() -> None:
    samples = speech_like(SECONDS, RATE)
    print("| format | whole clip (ms) | streamed, 100 ms chunks (ms) | size (KiB) |")
    print("|---|---|---|---|")
    for fmt in AudioFormat:
        whole = best_ms(partial(encode_audio, samples, RATE, fmt))
        stream = best_ms(partial(streamed, samples, fmt))
        size = len(encode_audio(samples, RATE, fmt)) / 1024
        print(f"| {fmt} | {whole:.1f} | {stream:.1f} | {size:.0f} |")


if __name__ == "__main__":
    main()
