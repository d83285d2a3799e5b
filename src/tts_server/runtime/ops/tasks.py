"""Owned background tasks: every task the server starts is tracked, supervised and cancelled at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


class TaskSupervisor:
    """Holds the background tasks of one component. `keep_running` restarts a loop that crashed (with
    backoff, logging each crash); `spawn` runs a one-off task and logs it if it fails. `stop` cancels
    all of them and waits until they are gone."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def keep_running(self, name: str, loop: Callable[[], Awaitable[None]], *, backoff: float = 0.5) -> None:
        self.spawn(name, self._supervise(name, loop, backoff))

    def spawn(self, name: str, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=f"{self._owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]], backoff: float) -> None:
        delay = backoff
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: background task %s crashed; restarting it in %.1fs", self._owner, name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self._owner, task.get_name(), exc_info=task.exception())
