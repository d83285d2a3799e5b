"""Job events for watchers: delivered in this process, and relayed between replicas.

A WebSocket on one replica may watch a job that another runs. The runner publishes each event here:
local watchers get it at once, and other replicas get it as a notice on the cluster bus (progress
and the end always, audio only for jobs whose audio was asked for, split to fit a notice). A replica
that receives a notice hands it to its own watchers of that job; for the end it reads the final
record from the database. Notices can be lost while a replica is cut off from the database, so
watchers of jobs that run elsewhere are also checked against the database every few seconds.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tts_server.runtime.jobs.events import JobAudio, JobEvent, JobFinished, JobProgress, JobWatch
from tts_server.runtime.ops.cluster import ClusterBus
from tts_server.store.jobs import JobStore

log = logging.getLogger(__name__)

JOB_EVENTS = "tts_job_events"
_AUDIO_PIECE = 5_000  # bytes of audio per notice: base64 makes it ~6.7 kB, under PostgreSQL's 8 kB
_CHECK_SECONDS = 2.0


class JobEventHub:
    """Watchers of jobs, and the relay of job events between replicas."""

    def __init__(self, bus: ClusterBus, store: JobStore) -> None:
        self._bus = bus
        self._store = store
        self._watches: dict[str, list[JobWatch]] = {}
        self.running_here: set[str] = set()  # jobs this replica runs (kept by the runner)
        self.on_cancel: Callable[[str], Awaitable[None]] | None = None  # the runner's: stop a job here
        self.on_queued: Callable[[], None] | None = None  # the runner's: wake a worker
        bus.subscribe(JOB_EVENTS, self._on_notice)

    def watch(self, job_id: str, *, audio: bool) -> JobWatch:
        watcher = JobWatch(job_id, audio=audio)
        self._watches.setdefault(job_id, []).append(watcher)
        return watcher

    def unwatch(self, watcher: JobWatch) -> None:
        watchers = self._watches.get(watcher.job_id, [])
        if watcher in watchers:
            watchers.remove(watcher)
        if not watchers:
            self._watches.pop(watcher.job_id, None)

    def forget(self, job_id: str) -> None:
        self._watches.pop(job_id, None)

    def publish(self, event: JobEvent, *, relay_audio: bool = False) -> None:
        """Deliver to this replica's watchers and tell the others."""
        self._deliver(event)
        if not self._bus.shared:
            return
        if isinstance(event, JobProgress):
            notice = {"kind": "progress", "job": event.job_id, "p": event.progress, "s": event.stage}
            self._bus.publish(JOB_EVENTS, notice)
        elif isinstance(event, JobFinished):
            self._bus.publish(JOB_EVENTS, {"kind": "finished", "job": event.record.job_id})
        elif isinstance(event, JobAudio) and relay_audio:
            for start in range(0, len(event.data), _AUDIO_PIECE):
                piece = base64.b64encode(event.data[start : start + _AUDIO_PIECE]).decode("ascii")
                self._bus.publish(JOB_EVENTS, {"kind": "audio", "job": event.job_id, "d": piece})

    def notify_queued(self) -> None:
        """Tell the other replicas' workers that a job waits."""
        self._bus.publish(JOB_EVENTS, {"kind": "queued"})

    def cancel_elsewhere(self, job_id: str) -> None:
        """Ask whichever replica runs `job_id` to stop it (its row already says cancelled)."""
        self._bus.publish(JOB_EVENTS, {"kind": "cancel", "job": job_id})

    def _deliver(self, event: JobEvent) -> None:
        job_id = event.record.job_id if isinstance(event, JobFinished) else event.job_id
        watchers = self._watches.pop(job_id, []) if isinstance(event, JobFinished) else self._watches.get(job_id, [])
        for watcher in watchers:
            watcher.push(event)

    # --- from other replicas ---------------------------------------------------------------------

    async def _on_notice(self, payload: dict[str, Any]) -> None:
        job_id = str(payload.get("job", ""))
        kind = payload.get("kind")
        if kind == "queued":
            if self.on_queued is not None:
                self.on_queued()
            return
        if kind == "cancel":
            if job_id in self.running_here and self.on_cancel is not None:
                await self.on_cancel(job_id)
            return
        if job_id not in self._watches:
            return
        if kind == "progress":
            self._deliver(JobProgress(job_id, int(payload["p"]), str(payload["s"])))
        elif kind == "audio":
            self._deliver(JobAudio(job_id, base64.b64decode(payload["d"])))
        elif kind == "finished":
            record = await self._store.get(job_id)
            if record is not None and record.status.finished:
                self._deliver(JobFinished(record))

    async def check_remote_watches(self) -> None:
        """Every few seconds: end the watches of jobs that ended elsewhere while a notice was lost."""
        while True:
            await asyncio.sleep(_CHECK_SECONDS)
            remote = [job_id for job_id in self._watches if job_id not in self.running_here]
            if not remote:
                continue
            for record in await self._store.get_many(remote):
                if record.status.finished and record.job_id not in self.running_here:
                    self._deliver(JobFinished(record))
