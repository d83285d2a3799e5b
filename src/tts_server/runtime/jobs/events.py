"""What a job tells those watching it (a WebSocket client): progress, audio as it is made, the end.

A watch is a bounded buffer per watcher. A job never waits for a watcher: when a slow watcher's buffer
is full, progress events are dropped (the next one supersedes them) and audio stops for that watcher
with an `AudioDropped` marker; the final event is always delivered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tts_server.store.jobs import JobRecord

DEFAULT_WATCH_BUFFER = 512


@dataclass(frozen=True, slots=True)
class JobProgress:
    job_id: str
    progress: int  # 0-100, never decreasing for one job
    stage: str  # queued, generating, encoding


@dataclass(frozen=True, slots=True)
class JobAudio:
    job_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class AudioDropped:
    job_id: str


@dataclass(frozen=True, slots=True)
class JobFinished:
    record: JobRecord  # completed, failed or cancelled


JobEvent = JobProgress | JobAudio | AudioDropped | JobFinished


class JobWatch:
    def __init__(self, job_id: str, *, audio: bool, buffer: int = DEFAULT_WATCH_BUFFER) -> None:
        self.job_id = job_id
        self.wants_audio = audio
        self._buffer = buffer
        self._events: deque[JobEvent] = deque()
        self._ready = asyncio.Event()

    def push(self, event: JobEvent) -> None:
        if isinstance(event, JobAudio) and not self.wants_audio:
            return
        if len(self._events) >= self._buffer and not isinstance(event, JobFinished):
            if isinstance(event, JobAudio):
                self.wants_audio = False
                self._events.append(AudioDropped(self.job_id))
            return
        self._events.append(event)
        self._ready.set()

    async def events(self) -> AsyncIterator[JobEvent]:
        """Every event in order, ending with (and including) the JobFinished one."""
        while True:
            while not self._events:
                self._ready.clear()
                await self._ready.wait()
            event = self._events.popleft()
            yield event
            if isinstance(event, JobFinished):
                return
