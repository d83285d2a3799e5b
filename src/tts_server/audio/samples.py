"""Mono sample arrays as engines hand them over: float32 in [-1, 1], or 16-bit PCM.

An engine whose audio is 16-bit at the source (espeak) passes its int16 samples on untouched: turning
them into float and back again for a wav or pcm response cost more than espeak takes to speak a short
sentence, and float32 doubles the bytes that cross from a worker process.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

Samples: TypeAlias = NDArray[np.float32] | NDArray[np.int16]

_INT16_SCALE = np.float32(1 / 32768)


def to_float32(samples: Samples) -> NDArray[np.float32]:
    """Float32 in [-1, 1]; float input is returned as it is (no copy)."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) * _INT16_SCALE
    return np.asarray(samples, dtype=np.float32)


def is_pcm16(samples: Samples) -> bool:
    return bool(samples.dtype == np.int16)
