"""HeapTrimmer: idle servers give freed heap memory back to the OS, busy ones are left alone."""

from __future__ import annotations

import threading

import psutil
import pytest

from tts_server.runtime.ops.memory import HeapTrimmer, glibc_malloc_trim

pytestmark = pytest.mark.skipif(glibc_malloc_trim() is None, reason="malloc_trim is glibc's")

BLOCK = 100 * 1024  # under glibc's mmap threshold: served from an arena, not mapped on its own
BLOCKS = 1500  # 150 MB


def fragment_a_thread_arena() -> list[bytearray]:
    """What an encoder thread leaves after a burst: its arena's blocks freed, but the last one still in use,
    so glibc cannot trim the arena's top. Returns the block that stays alive."""
    kept: list[bytearray] = []

    def work() -> None:
        blocks = [bytearray(BLOCK) for _ in range(BLOCKS)]  # bytearray writes its zeros: the pages are real
        kept.append(blocks.pop())
        del blocks

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return kept


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def test_an_idle_process_gets_its_free_heap_back() -> None:
    kept = fragment_a_thread_arena()
    before = rss_mb()
    assert await HeapTrimmer(lambda: True).trim_if_idle()
    assert before - rss_mb() > 100, (before, rss_mb())
    assert len(kept) == 1


async def test_a_busy_process_is_not_trimmed() -> None:
    trimmer = HeapTrimmer(lambda: False)
    assert not await trimmer.trim_if_idle()
    assert trimmer.trims == 0
