"""Paths and loaders for the S1-mini codec fixtures (written by scripts/s1_reference/make_codec_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CODEC = FIXTURES / "tiny" / "codec.pth"
TINY_HPARAMS = FIXTURES / "tiny" / "codec_hparams.json"
FULL_SIZE_STATE_DICT = FIXTURES / "codec_full_size_state_dict.json"

# Whole-clip audio agrees with the reference to the last bit with one torch thread on the machine that wrote the
# goldens; other thread counts and CPUs reorder float sums (measured: up to 4e-7). A real mistake is >= 1e-3.
AUDIO_ATOL = 1e-5


def goldens() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "codec_goldens.npz") as data:
        return {name: data[name] for name in data.files}


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from more threads, and on a busy machine extra threads make them crawl."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
