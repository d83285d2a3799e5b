"""The async job queue: long texts synthesised in the background, their results kept as files.

Jobs live in the database (store/jobs.py) and their audio under outputs/ (store/job_files.py); this
module owns the in-process part: a bounded queue, a fixed number of workers, cancellation, progress
for watchers, recovery after a restart and the retention sweep.

Fairness with synchronous requests. Jobs and synchronous requests share the engine runner, whose
admission is first come, first served. A worker therefore takes its turn only when
  - fewer than max(1, engine workers - 1) jobs are running: with two or more engine workers, one is
    always left to synchronous requests, so they never queue behind long jobs; and
  - no synchronous request is waiting for a worker (for at most MAX_DEFERRAL seconds, so a steady
    stream of synchronous requests cannot starve the jobs either).
With one engine worker, a synchronous request waits at most for the job already running. WebSocket
requests with `stream: true` are interactive: they bypass the job queue like synchronous requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import cast

from tts_server.errors import Conflict, ErrorCode, JobNotFinished, NotFound, QueueFull, ServiceError
from tts_server.runtime.engines import EngineRegistry
from tts_server.runtime.job_events import JobAudio, JobEvent, JobFinished, JobProgress, JobWatch
from tts_server.runtime.job_options import check_options, options_from_params, options_to_params
from tts_server.runtime.job_retention import JobRetention
from tts_server.runtime.metrics import Metrics, Outcome
from tts_server.runtime.runner import RunnerState
from tts_server.runtime.speech import SpeechOptions, SpeechResult, SpeechService, parse_format
from tts_server.runtime.tasks import TaskSupervisor
from tts_server.runtime.voices import VoiceResolver
from tts_server.settings import Settings
from tts_server.store.job_files import ResultFiles
from tts_server.store.jobs import JobOutcome, JobRecord, JobStatus, JobStore, is_job_id, new_job_id

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job that was processing when the server died runs once more, then fails
MAX_DEFERRAL = 10.0
CHARS_PER_AUDIO_SECOND = 15.0  # to estimate progress when the engine does not report it
_TURN_POLL_SECONDS = 0.05
_SAVE_PROGRESS_SECONDS = 1.0

_OUTCOMES = {JobStatus.COMPLETED: Outcome.SUCCESS, JobStatus.FAILED: Outcome.FAILURE}


@dataclass(slots=True)
class _Active:
    record: JobRecord
    task: asyncio.Task[None] | None = None
    progress: int = 0
    stage: str = "generating"
    cancel_requested: bool = False
    saved_at: float = 0.0


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
    ) -> None:
        self._store = store
        self._files = files
        self._speech = speech
        self._engines = engines
        self._voices = voices
        self._settings = settings
        self._metrics = metrics
        self._pending: asyncio.Queue[str] = asyncio.Queue()  # bounded by admission in `submit`
        self._queued: set[str] = set()
        self._active: dict[str, _Active] = {}
        self._watches: dict[str, list[JobWatch]] = {}
        self._job_slots = 0
        self._tasks = TaskSupervisor("jobs")
        self.retention = JobRetention(store, files, settings)

    @property
    def depth(self) -> int:
        """Jobs waiting to run."""
        return len(self._queued)

    @property
    def active(self) -> int:
        """Jobs being processed: from the queue, and interactive WebSocket streams."""
        return len(self._active)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._files.prepare)
        recovery = await self._store.recover(MAX_ATTEMPTS)
        for job_id in recovery.given_up:
            log.warning("job %s was interrupted %d times by a server stop; marked failed", job_id, MAX_ATTEMPTS)
        for job_id in recovery.runnable:
            self._enqueue(job_id)
        if recovery.runnable:
            log.info("%d job(s) from before the restart are queued again", len(recovery.runnable))
        for number in range(self._settings.job_workers):
            self._tasks.keep_running(f"worker-{number}", self._work)
        self._tasks.keep_running("retention", self.retention.run_periodically)

    async def stop(self) -> None:
        """Cancel workers and running jobs; interrupted jobs go back to pending for the next start."""
        await self._tasks.stop()

    # --- admission ---------------------------------------------------------------------------

    async def submit(self, options: SpeechOptions, *, watch: bool = False) -> tuple[JobRecord, JobWatch | None]:
        """Queue a job. Refuses at once (400/503) what would fail anyway, and a full queue (503)."""
        await check_options(options, self._engines, self._voices, max_chars=self._settings.max_input_chars)
        if len(self._queued) >= self._settings.max_jobs_queued:
            raise QueueFull(f"{len(self._queued)} jobs are already waiting; try again later.", retry_after=10)
        job_id = new_job_id()
        self._queued.add(job_id)  # reserved before the first await, so concurrent submits respect the bound
        watcher = self._watch(job_id, audio=False) if watch else None
        try:
            record = await self._store.create(job_id, options.text, options_to_params(options), options.response_format)
        except BaseException:
            self._queued.discard(job_id)
            self._watches.pop(job_id, None)
            raise
        self._log_text(job_id, options)
        self._pending.put_nowait(job_id)
        self._publish(job_id, JobProgress(job_id, 0, "queued"))
        return record, watcher

    async def run_now(self, options: SpeechOptions) -> tuple[JobRecord, JobWatch]:
        """An interactive job (a WebSocket stream): recorded like any job, but started at once, with
        its audio sent to the returned watch as it is made."""
        await check_options(options, self._engines, self._voices, max_chars=self._settings.max_input_chars)
        job_id = new_job_id()
        watcher = self._watch(job_id, audio=True)
        await self._store.create(job_id, options.text, options_to_params(options), options.response_format)
        record = await self._store.claim(job_id)
        assert record is not None, "a job nobody else knows of yet is always claimable"
        self._log_text(job_id, options)
        self._start(record)
        return record, watcher

    # --- queries and commands ----------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord:
        if not is_job_id(job_id):
            raise NotFound(f"Job '{job_id[:80]}' not found; job ids are UUIDs as POST /generate returns them.")
        record = await self._store.get(job_id)
        if record is None:
            raise NotFound(f"Job '{job_id}' not found.")
        return self._with_live_progress(record)

    async def list_jobs(self, status: JobStatus | None, limit: int) -> list[JobRecord]:
        return [self._with_live_progress(record) for record in await self._store.list_jobs(status, limit)]

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
        """Cancel a pending or running job (a running synthesis stops). 409 if it already finished."""
        record = await self.get(job_id)
        if record.status is JobStatus.PENDING:
            cancelled = await self._store.finish(job_id, _cancelled(), expected=JobStatus.PENDING)
            if cancelled is not None:
                self._queued.discard(job_id)
                self._concluded(cancelled, None)
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
        watchers = self._watches.get(watcher.job_id, [])
        if watcher in watchers:
            watchers.remove(watcher)

    # --- workers -----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            job_id = await self._pending.get()
            if job_id not in self._queued:
                continue  # cancelled while it waited
            async with self._turn():
                self._queued.discard(job_id)
                record = await self._store.claim(job_id)  # None: cancelled meanwhile
                if record is not None:
                    await asyncio.wait({self._start(record)})

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Wait until a job may run (see the module docstring) and hold its slot meanwhile."""
        deferred_since = time.monotonic()
        while True:
            runner = self._engines.default
            load = runner.load()
            yielding = load.waiting > 0 and time.monotonic() - deferred_since < MAX_DEFERRAL
            if runner.state is not RunnerState.LOADING and self._job_slots < max(1, load.workers - 1) and not yielding:
                break
            await asyncio.sleep(_TURN_POLL_SECONDS)
        self._job_slots += 1
        try:
            yield
        finally:
            self._job_slots -= 1

    def _start(self, record: JobRecord) -> asyncio.Task[None]:
        active = _Active(record)
        self._active[record.job_id] = active
        active.task = self._tasks.spawn(f"job-{record.job_id}", self._execute(active))
        return active.task

    async def _execute(self, active: _Active) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._synthesise(active)
        except asyncio.CancelledError:
            await self._interrupted(active, time.perf_counter() - started)
            raise
        except ServiceError as exc:
            outcome = JobOutcome(JobStatus.FAILED, exc.message, exc.code)
        except Exception as exc:
            log.exception("job %s failed", active.record.job_id)
            outcome = JobOutcome(JobStatus.FAILED, f"Generation failed: {exc}", ErrorCode.INTERNAL_ERROR)
        await self._conclude(active, outcome, time.perf_counter() - started)

    async def _synthesise(self, active: _Active) -> JobOutcome:
        job_id = active.record.job_id
        options = options_from_params(active.record.params)
        extension = parse_format(options.response_format).value
        writer = await asyncio.to_thread(self._files.writer, job_id, extension)
        try:
            stream = await self._speech.open_stream(options)
            await self._advance(active, 5, "generating")
            # aclosing: a cancelled job closes the stream at once, which stops the synthesis
            async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], stream.chunks())) as chunks:
                async for data in chunks:
                    await asyncio.to_thread(writer.write, data)
                    self._publish(job_id, JobAudio(job_id, data))
                    await self._advance(active, _generation_progress(options, stream.result), "generating")
            await self._advance(active, 95, "encoding")
            name = await asyncio.to_thread(writer.commit)
        except BaseException:
            await asyncio.to_thread(writer.discard)
            raise
        return JobOutcome(
            JobStatus.COMPLETED,
            result_file=name,
            media_type=stream.media_type,
            engine=stream.result.engine_id,
            audio_seconds=round(stream.result.audio_seconds, 3),
        )

    async def _advance(self, active: _Active, progress: int, stage: str) -> None:
        progress = max(active.progress, min(progress, 99))
        if (progress, stage) == (active.progress, active.stage):
            return
        active.progress, active.stage = progress, stage
        job_id = active.record.job_id
        self._publish(job_id, JobProgress(job_id, progress, stage))
        now = time.monotonic()
        if now - active.saved_at >= _SAVE_PROGRESS_SECONDS:
            active.saved_at = now
            await self._store.save_progress(job_id, progress, stage)

    async def _interrupted(self, active: _Active, seconds: float) -> None:
        if active.cancel_requested:
            await self._conclude(active, _cancelled(), seconds)
            return
        self._active.pop(active.record.job_id, None)
        await self._store.requeue(active.record.job_id)  # server stopping: it runs again at the next start

    async def _conclude(self, active: _Active, outcome: JobOutcome, seconds: float) -> None:
        job_id = active.record.job_id
        self._active.pop(job_id, None)
        record = await self._store.finish(job_id, outcome)
        if record is None:  # already final (cannot normally happen): keep no orphan file
            if outcome.result_file:
                await asyncio.to_thread(self._files.remove, outcome.result_file)
            return
        log.debug("job %s %s after %.2fs", job_id, record.status.value, seconds)
        self._concluded(record, seconds)

    def _concluded(self, record: JobRecord, seconds: float | None) -> None:
        engine = record.engine or self._engines.default_id
        outcome = _OUTCOMES.get(record.status, Outcome.CANCELLED)
        self._metrics.record_generation(engine, outcome, seconds, record.audio_seconds)
        self._publish(record.job_id, JobFinished(record))

    async def _cancel_running(self, record: JobRecord) -> JobRecord:
        active = self._active.get(record.job_id)
        if active is None or active.task is None:  # not running in this process: just mark it
            cancelled = await self._store.finish(record.job_id, _cancelled())
            return cancelled or await self.get(record.job_id)
        active.cancel_requested = True
        active.task.cancel()
        await asyncio.wait({active.task}, timeout=10)
        return await self.get(record.job_id)

    # --- watchers ----------------------------------------------------------------------------

    def _watch(self, job_id: str, *, audio: bool) -> JobWatch:
        watcher = JobWatch(job_id, audio=audio)
        self._watches.setdefault(job_id, []).append(watcher)
        return watcher

    def _publish(self, job_id: str, event: JobEvent) -> None:
        watchers = self._watches.pop(job_id, []) if isinstance(event, JobFinished) else self._watches.get(job_id, [])
        for watcher in watchers:
            watcher.push(event)

    def _with_live_progress(self, record: JobRecord) -> JobRecord:
        """The database has progress as of the last save (once a second); the running job has it now."""
        active = self._active.get(record.job_id)
        if active is None or record.status is not JobStatus.PROCESSING:
            return record
        return replace(record, progress=float(active.progress), stage=active.stage)

    def _enqueue(self, job_id: str) -> None:
        self._queued.add(job_id)
        self._pending.put_nowait(job_id)

    def _log_text(self, job_id: str, options: SpeechOptions) -> None:
        if self._settings.show_prompts:
            log.info("job %s: voice=%s text=%r", job_id, options.voice, options.text)


def _cancelled() -> JobOutcome:
    return JobOutcome(JobStatus.CANCELLED, "Cancelled by the client.")


def _generation_progress(options: SpeechOptions, result: SpeechResult) -> int:
    """5-90 while generating: the engine's own progress when it reports one, else audio made so far
    against the audio the text should need."""
    if result.progress is not None:
        fraction = result.progress
    else:
        expected = max(1.0, len(options.text) / CHARS_PER_AUDIO_SECOND / options.speed)
        fraction = result.audio_seconds / expected
    return 5 + int(85 * min(max(fraction, 0.0), 1.0))
