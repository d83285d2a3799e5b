"""The environment the tiny-model tests run torch in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def offline_one_thread() -> Iterator[None]:
    """No hub, and one torch thread: tiny models gain nothing from more, and a busy machine punishes them."""
    import torch  # only where the caller already needs it

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(previous)
