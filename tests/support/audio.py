"""Decoding responses in tests with PyAV directly, independent of the server's own decoder."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Decoded:
    samples: NDArray[np.float32]
    sample_rate: int
    channels: int
    codec: str
    container: str

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_bytes(data: bytes) -> Decoded:
    """Decodes a whole file held in memory; mixes to mono for the sample array."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        codec = stream.codec_context.name
        channels = stream.codec_context.channels
        frames = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate or stream.rate
        container_name = container.format.name
    samples = _to_mono(frames, channels)
    return Decoded(samples, int(rate), channels, codec, container_name)


def decode_pcm(data: bytes, sample_rate: int = 24_000) -> Decoded:
    assert len(data) % 2 == 0, "pcm must be whole 16-bit samples"
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    return Decoded(samples, sample_rate, 1, "pcm_s16le", "raw")


def _to_mono(frames: list[NDArray[np.float32]], channels: int) -> NDArray[np.float32]:
    if not frames:
        return np.zeros(0, dtype=np.float32)
    planar = [_planar(_as_float(frame), channels) for frame in frames]
    mono: NDArray[np.float32] = np.concatenate(planar, axis=1).mean(axis=0).astype(np.float32)
    return mono


def _planar(frame: NDArray[np.float32], channels: int) -> NDArray[np.float32]:
    """Packed frames come as (1, samples*channels) interleaved; planar ones as (channels, samples)."""
    if frame.shape[0] == channels:
        return frame
    planar: NDArray[np.float32] = frame.reshape(-1, channels).T
    return planar


def _as_float(frame: NDArray[np.float32]) -> NDArray[np.float32]:
    peak = float(np.abs(frame).max()) if frame.size else 0.0
    return frame / 32768.0 if peak > 2.0 else frame


def rms(samples: NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
