"""Gives the heap's free memory back to the operating system while the server is idle.

After a burst of large requests the server process stays at its high-water mark: glibc keeps freed blocks
for reuse, and it only trims free memory at the top of a heap, which blocks freed in the encoders' threads
(each thread allocates from its own arena) rarely are. Measured with 300 mixed concurrent requests (whole
clips, streams, clients leaving): the server went from 175 MB to 610-700 MB RSS and stayed there after the
burst; malloc_trim(0) brought it back to ~150 MB, taking ~35 ms. So, every CHECK_SECONDS, when no synthesis
or job is running or waiting, malloc_trim runs in a thread. Off glibc there is nothing to call, and nothing
runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

CHECK_SECONDS = 30.0

Trim = Callable[[int], int]


class HeapTrimmer:
    def __init__(self, is_idle: Callable[[], bool], *, interval: float = CHECK_SECONDS) -> None:
        self._is_idle = is_idle
        self._interval = interval
        self._trim = glibc_malloc_trim()
        self.trims = 0  # how many times the heap was trimmed (for tests and curiosity)

    @property
    def available(self) -> bool:
        return self._trim is not None

    async def run_periodically(self) -> None:
        if self._trim is None:
            return
        while True:
            await asyncio.sleep(self._interval)
            await self.trim_if_idle()

    async def trim_if_idle(self) -> bool:
        """Trim now if the server is idle; True when it did."""
        if self._trim is None or not self._is_idle():
            return False
        await asyncio.to_thread(self._trim, 0)  # ~35 ms on a heap after a burst: not on the event loop
        self.trims += 1
        return True


def glibc_malloc_trim() -> Trim | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    function: Trim = trim
    return function
