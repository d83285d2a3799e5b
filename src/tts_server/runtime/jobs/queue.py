"""The async job queue: long texts synthesised in the background, their results kept as files.

Jobs live in the database (store/jobs.py, store/job_claims.py) and their audio under outputs/
(store/job_files.py), both shared by every replica. This module is what the routers call: admission,
queries, results, cancellation and watching; runner.py runs the jobs and relay.py carries their
events to watchers, on this replica or another. Any replica answers for any job: a job queued on one
may run on another, its result is read from the shared data dir, and a cancel reaches it where it runs.
"""

from __future__ import annotations

import asyncio
import logging

from tts_server.errors import Conflict, JobNotFinished, NotFound, QueueFull
from tts_server.runtime.jobs.events import JobProgress, JobWatch
from tts_server.runtime.jobs.options import check_options, options_to_params
from tts_server.runtime.jobs.relay import JobEventHub
from tts_server.runtime.jobs.retention import JobRetention
from tts_server.runtime.jobs.runner import MAX_ATTEMPTS, JobRunner
from tts_server.runtime.ops.metrics import Metrics
from tts_server.runtime.ops.tasks import TaskSupervisor
from tts_server.runtime.runners.registry import EngineRegistry
from tts_server.runtime.speech import SpeechOptions, SpeechService
from tts_server.runtime.voices import VoiceResolver
from tts_server.settings import Settings
from tts_server.store.job_claims import JobClaims, Lease
from tts_server.store.job_files import ResultFiles
from tts_server.store.jobs import JobOutcome, JobRecord, JobStatus, JobStore, is_job_id, new_job_id, pending_row

__all__ = ["MAX_ATTEMPTS", "JobQueue"]

log = logging.getLogger(__name__)


class JobQueue:
    def __init__(
        self,
        *,
        store: JobStore,
        files: ResultFiles,
        speech: SpeechService,
        engines: EngineRegistry,
        voices: VoiceResolver,
        settings: Settings,
        metrics: Metrics,
        hub: JobEventHub,
        lease: Lease,
    ) -> None:
        self._store = store
        self._files = files
        self._engines = engines
        self._voices = voices
        self._settings = settings
        self._hub = hub
        self._claims = JobClaims(store.db)
        self.runner = JobRunner(
            store=store,
            claims=self._claims,
            files=files,
            speech=speech,
            engines=engines,
            hub=hub,
            settings=settings,
            metrics=metrics,
            lease=lease,
        )
        self._tasks = TaskSupervisor("jobs")
        self.retention = JobRetention(store, files, settings)

    @property
    def depth(self) -> int:
        """Jobs waiting to run (on every replica, as of this replica's last look)."""
        return self.runner.depth

    @property
    def active(self) -> int:
        """Jobs being processed here: from the queue, and interactive WebSocket streams."""
        return len(self.runner.active)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.runner.start()
        self._tasks.keep_running("retention", self.retention.run_periodically)
        if self._store.db.exclusive:
            return
        self._tasks.keep_running("remote-watches", self._hub.check_remote_watches)

    async def stop(self) -> None:
        """Cancel workers and running jobs; interrupted jobs go back to pending for the next start."""
        await self._tasks.stop()
        await self.runner.stop()

    # --- admission ---------------------------------------------------------------------------

    async def submit(
        self, options: SpeechOptions, *, watch: bool = False, stream_audio: bool = False
    ) -> tuple[JobRecord, JobWatch | None]:
        """Queue a job. Refuses at once (400/503) what would fail anyway, and a full queue (503).
        With `stream_audio`, the job's audio reaches the returned watch from whichever replica runs it."""
        await check_options(options, self._engines, self._voices, max_chars=self._settings.max_input_chars)
        job_id = new_job_id()
        watcher = self._hub.watch(job_id, audio=stream_audio) if watch else None
        try:
            created = await self._store.create(
                job_id,
                options.text,
                options_to_params(options),
                options.response_format,
                stream_audio=stream_audio,
                max_pending=self._settings.max_jobs_queued,
            )
        except BaseException:
            self._hub.forget(job_id)
            raise
        if isinstance(created, int):
            self._hub.forget(job_id)
            raise QueueFull(f"{created} jobs are already waiting; try again later.", retry_after=10)
        self._log_text(job_id, options)
        self.runner.depth += 1
        self.runner.wake()
        self._hub.publish(JobProgress(job_id, 0, "queued"))
        self._hub.notify_queued()
        return created, watcher

    async def run_now(self, options: SpeechOptions) -> tuple[JobRecord, JobWatch]:
        """An interactive job (a WebSocket stream): recorded like any job, but started at once, with
        its audio sent to the returned watch as it is made. A replica that runs no jobs
        (TTS_JOB_WORKERS=0) queues it for one that does, which relays the audio."""
        if self._settings.job_workers == 0:
            record, watcher = await self.submit(options, watch=True, stream_audio=True)
            assert watcher is not None
            return record, watcher
        await check_options(options, self._engines, self._voices, max_chars=self._settings.max_input_chars)
        job_id = new_job_id()
        watcher = self._hub.watch(job_id, audio=True)
        row = pending_row(job_id, options.text, options_to_params(options), options.response_format)
        claimed = await self._claims.create_claimed(row, self.runner.lease)  # the job runner cannot take it first
        self._log_text(job_id, options)
        self.runner.run_here(claimed)
        return claimed, watcher

    # --- queries and commands ----------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise NotFound(f"Job '{job_id[:80]}' not found; job ids are UUIDs as POST /generate returns them.")
        record = await self._store.get(job_id)
        if record is None:
            raise NotFound(f"Job '{job_id}' not found.")
        return self.runner.live(record)

    async def list_jobs(self, status: JobStatus | None, limit: int) -> list[JobRecord]:
        return [self.runner.live(record) for record in await self._store.list_jobs(status, limit)]

    async def result(self, job_id: str) -> tuple[JobRecord, str]:
        """The finished job and the path of its audio file."""
        record = await self.get(job_id)
        if not record.status.finished:
            message = f"Job {job_id} is {record.status.value} ({int(record.progress)}%); its result is not ready yet."
            raise JobNotFinished(message, headers={"Retry-After": "1"})
        if record.status is not JobStatus.COMPLETED:
            reason = f": {record.error_message}" if record.error_message else ""
            raise Conflict(f"Job {job_id} {record.status.value}{reason}; it has no result.")
        path = self._files.path(record.result_file) if record.result_file else None
        if path is None:
            raise NotFound(f"The result of job {job_id} is no longer available (deleted or expired).")
        return record, str(path)

    async def result_sent(self, record: JobRecord) -> None:
        """With save_outputs off, a result lives only until it has been downloaded once."""
        if self._settings.save_outputs:
            return
        name = await self._store.clear_result(record.job_id)
        if name is not None:
            await asyncio.to_thread(self._files.remove, name)

    async def cancel(self, job_id: str) -> JobRecord:
        """Cancel a pending or running job, wherever it runs (its synthesis stops). 409 if it already finished."""
        record = await self.get(job_id)
        if record.status is JobStatus.PENDING:
            cancelled = await self._store.finish(job_id, _cancelled(), expected=JobStatus.PENDING)
            if cancelled is not None:
                self.runner.concluded(cancelled, None)
                return cancelled
            record = await self.get(job_id)  # a worker took it meanwhile
        if record.status is JobStatus.PROCESSING:
            record = await self._cancel_running(record)
        if record.status is not JobStatus.CANCELLED:
            raise Conflict(f"Job {job_id} already {record.status.value}; there is nothing to cancel.")
        return record

    async def cancel_or_delete(self, job_id: str) -> tuple[JobRecord, bool]:
        """DELETE /jobs/{id}: cancel an open job, or delete a finished one and its result. Returns the
        job and whether it was deleted."""
        record = await self.get(job_id)
        if not record.status.finished:
            return await self.cancel(job_id), False
        deleted = await self._store.delete(job_id)
        if deleted is not None and deleted.result_file:
            await asyncio.to_thread(self._files.remove, deleted.result_file)
        return deleted or record, True

    def unwatch(self, watcher: JobWatch) -> None:
        self._hub.unwatch(watcher)

    # --- internals ---------------------------------------------------------------------------

    async def _cancel_running(self, record: JobRecord) -> JobRecord:
        if await self.runner.cancel_here(record.job_id):
            return await self.get(record.job_id)
        # Running on another replica (or on none, after a crash): the row decides, then that replica
        # is told to stop; its own completion is fenced out by the status.
        cancelled = await self._store.finish(record.job_id, _cancelled())
        if cancelled is None:
            return await self.get(record.job_id)
        self._hub.cancel_elsewhere(record.job_id)
        self.runner.concluded(cancelled, None)
        return cancelled

    def _log_text(self, job_id: str, options: SpeechOptions) -> None:
        if self._settings.show_prompts:
            log.info("job %s: voice=%s text=%r", job_id, options.voice, options.text)


def _cancelled() -> JobOutcome:
    return JobOutcome(JobStatus.CANCELLED, "Cancelled by the client.")
