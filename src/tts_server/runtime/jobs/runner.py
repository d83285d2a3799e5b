"""Running jobs: workers that claim jobs from the database, run them and record how they ended.

Any replica's workers claim any pending job (store/job_claims.py), under a lease that one task renews
for all of this replica's running jobs. A job is run where it was claimed; a replica that loses a
job's lease (cancelled elsewhere, or taken over after the replica was cut off too long) stops it and
writes nothing more. Workers wake when a job is queued here or on another replica (a notice), and
otherwise look every second, which is also how jobs of a dead replica are found once their lease ran out.

Fairness with synchronous requests. Jobs and synchronous requests share the engine runner, whose
admission is first come, first served. A worker therefore claims a job only when
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
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import cast

from tts_server.errors import DatabaseUnavailable, ErrorCode, ServiceError
from tts_server.runtime.jobs.events import JobAudio, JobFinished, JobProgress
from tts_server.runtime.jobs.options import options_from_params
from tts_server.runtime.jobs.relay import JobEventHub
from tts_server.runtime.ops.metrics import Metrics, Outcome
from tts_server.runtime.ops.tasks import TaskSupervisor
from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.runners.registry import EngineRegistry
from tts_server.runtime.speech import SpeechOptions, SpeechResult, SpeechService, parse_format
from tts_server.settings import Settings
from tts_server.store.job_claims import JobClaims, Lease
from tts_server.store.job_files import ResultFiles, ResultWriter
from tts_server.store.jobs import JobOutcome, JobRecord, JobStatus, JobStore

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2  # a job whose server died while processing it runs once more, then fails
MAX_DEFERRAL = 10.0
CHARS_PER_AUDIO_SECOND = 15.0  # to estimate progress when the engine does not report it
IDLE_POLL_SECONDS = 1.0
_TURN_POLL_SECONDS = 0.05
_SAVE_PROGRESS_SECONDS = 1.0
_MAX_RETRY_SECONDS = 5.0

_OUTCOMES = {JobStatus.COMPLETED: Outcome.SUCCESS, JobStatus.FAILED: Outcome.FAILURE}


@dataclass(slots=True)
class _Active:
    record: JobRecord
    task: asyncio.Task[None] | None = None
    progress: int = 0
    stage: str = "generating"
    cancel_requested: bool = False
    lost: bool = False  # the lease is no longer ours: write nothing more
    saved_at: float = 0.0

    @property
    def token(self) -> str:
        assert self.record.lease_token is not None
        return self.record.lease_token


class JobRunner:
    def __init__(
        self,
        *,
        store: JobStore,
        claims: JobClaims,
        files: ResultFiles,
        speech: SpeechService,
        engines: EngineRegistry,
        hub: JobEventHub,
        settings: Settings,
        metrics: Metrics,
        lease: Lease,
    ) -> None:
        self._store = store
        self._claims = claims
        self._files = files
        self._speech = speech
        self._engines = engines
        self._hub = hub
        self._settings = settings
        self._metrics = metrics
        self.lease = lease
        self.active: dict[str, _Active] = {}
        self.depth = 0  # jobs waiting, on every replica, as of the last look
        self._wake = asyncio.Event()
        self._job_slots = 0
        self._tasks = TaskSupervisor("job-runner")
        hub.on_cancel = self._cancelled_elsewhere
        hub.on_queued = self._queued_elsewhere

    async def start(self) -> None:
        await asyncio.to_thread(self._files.prepare)
        exclusive = self._store.db.exclusive
        if exclusive:  # the only server on this database: whatever was processing was left by a crash
            for job_id in await self._claims.recover_exclusive(MAX_ATTEMPTS):
                log.warning("job %s was interrupted %d times by a server stop; marked failed", job_id, MAX_ATTEMPTS)
        live = None if exclusive else await self._claims.live_tokens()
        await asyncio.to_thread(self._files.remove_stale_parts, live)
        self.depth = await self._store.pending_count()
        if self.depth:
            log.info("%d job(s) are waiting to run", self.depth)
        for number in range(self._settings.job_workers):
            self._tasks.keep_running(f"worker-{number}", self._work)
        self._tasks.keep_running("leases", self._keep_leases)

    async def stop(self) -> None:
        """Cancel workers and running jobs; interrupted jobs go back to pending for the next start."""
        await self._tasks.stop()

    def wake(self) -> None:
        """A job was queued: let an idle worker look now rather than at its next poll."""
        self._wake.set()

    def run_here(self, record: JobRecord) -> asyncio.Task[None]:
        """Run a job this replica has just claimed (an interactive WebSocket stream)."""
        return self._start(record)

    async def cancel_here(self, job_id: str) -> bool:
        """Stop a job running in this process and wait (up to 10 s) until it is recorded as cancelled.
        False when it does not run here."""
        active = self.active.get(job_id)
        if active is None or active.task is None:
            return False
        active.cancel_requested = True
        active.task.cancel()
        await asyncio.wait({active.task}, timeout=10)
        return True

    def live(self, record: JobRecord) -> JobRecord:
        """The database has progress as of the last save (once a second); a job running here has it now."""
        active = self.active.get(record.job_id)
        if active is None or record.status is not JobStatus.PROCESSING:
            return record
        return replace(record, progress=float(active.progress), stage=active.stage)

    def concluded(self, record: JobRecord, seconds: float | None) -> None:
        """Count a job that ended and tell its watchers."""
        engine = record.engine or self._engines.default_id
        outcome = _OUTCOMES.get(record.status, Outcome.CANCELLED)
        self._metrics.record_generation(engine, outcome, seconds, record.audio_seconds)
        self._hub.publish(JobFinished(record))

    # --- workers -----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            try:
                ran = await self._claim_and_run()
            except DatabaseUnavailable:
                ran = False  # logged by the database; look again at the next poll
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)

    async def _claim_and_run(self) -> bool:
        async with self._turn():
            self._wake.clear()  # before the claim: a job queued from now on wakes us again
            claim = await self._claims.claim_next(self.lease, MAX_ATTEMPTS)
            for job_id in claim.given_up:
                log.warning("job %s was interrupted %d times by a server stop; marked failed", job_id, MAX_ATTEMPTS)
                record = await self._store.get(job_id)
                if record is not None:
                    self._hub.publish(JobFinished(record))
            if claim.record is None:
                self.depth = await self._store.pending_count()
                return False
            self.depth = max(0, self.depth - 1)
            await asyncio.wait({self._start(claim.record)})
            return True

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
        self.active[record.job_id] = active
        self._hub.running_here.add(record.job_id)
        active.task = self._tasks.spawn(f"job-{record.job_id}", self._execute(active))
        return active.task

    async def _execute(self, active: _Active) -> None:
        started = time.perf_counter()
        writer: ResultWriter | None = None
        try:
            try:
                outcome, writer = await self._synthesise(active)
            except asyncio.CancelledError:
                await self._interrupted(active, time.perf_counter() - started)
                raise
            except ServiceError as exc:
                outcome = JobOutcome(JobStatus.FAILED, exc.message, exc.code)
            except Exception as exc:
                log.exception("job %s failed", active.record.job_id)
                outcome = JobOutcome(JobStatus.FAILED, f"Generation failed: {exc}", ErrorCode.INTERNAL_ERROR)
            await self._conclude(active, outcome, writer, time.perf_counter() - started)
        finally:
            self.active.pop(active.record.job_id, None)
            self._hub.running_here.discard(active.record.job_id)

    async def _synthesise(self, active: _Active) -> tuple[JobOutcome, ResultWriter]:
        job_id = active.record.job_id
        options = options_from_params(active.record.params)
        extension = parse_format(options.response_format).value
        writer = await asyncio.to_thread(self._files.writer, job_id, active.token, extension)
        try:
            stream = await self._speech.open_stream(options)
            await self._advance(active, 5, "generating")
            # aclosing: a cancelled job closes the stream at once, which stops the synthesis
            async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], stream.chunks())) as chunks:
                async for data in chunks:
                    await asyncio.to_thread(writer.write, data)
                    self._hub.publish(JobAudio(job_id, data), relay_audio=active.record.stream_audio)
                    await self._advance(active, _generation_progress(options, stream.result), "generating")
            await self._advance(active, 95, "encoding")
            await asyncio.to_thread(writer.finish)
        except BaseException:
            await asyncio.to_thread(writer.discard)
            raise
        outcome = JobOutcome(
            JobStatus.COMPLETED,
            media_type=stream.media_type,
            engine=stream.result.engine_id,
            audio_seconds=round(stream.result.audio_seconds, 3),
        )
        return outcome, writer

    async def _advance(self, active: _Active, progress: int, stage: str) -> None:
        progress = max(active.progress, min(progress, 99))
        if (progress, stage) == (active.progress, active.stage):
            return
        active.progress, active.stage = progress, stage
        job_id = active.record.job_id
        self._hub.publish(JobProgress(job_id, progress, stage))
        now = time.monotonic()
        if now - active.saved_at >= _SAVE_PROGRESS_SECONDS:
            active.saved_at = now
            with contextlib.suppress(DatabaseUnavailable):  # progress can wait for the database
                if not await self._claims.save_progress(job_id, active.token, progress, stage):
                    self._lost(active, "its progress could not be saved")

    async def _interrupted(self, active: _Active, seconds: float) -> None:
        if active.lost:
            return
        if active.cancel_requested:
            await self._conclude(active, _cancelled(), None, seconds)
            return
        with contextlib.suppress(DatabaseUnavailable):  # else its lease runs out and another replica takes it
            await self._claims.requeue(active.record.job_id, active.token)  # server stopping: it runs again

    async def _conclude(
        self, active: _Active, outcome: JobOutcome, writer: ResultWriter | None, seconds: float
    ) -> None:
        job_id = active.record.job_id
        publish = writer.publish if writer is not None else None
        record = await self._finish_retrying(active, outcome, publish)
        if record is None:  # cancelled or taken over meanwhile: the result is not ours to publish
            if writer is not None:
                await asyncio.to_thread(writer.discard)
            log.info("job %s: the lease was lost before it ended; its result is dropped", job_id)
            return
        log.debug("job %s %s by %s after %.2fs", job_id, record.status.value, self.lease.owner, seconds)
        self.concluded(record, seconds)

    async def _finish_retrying(
        self, active: _Active, outcome: JobOutcome, publish: Callable[[], str] | None
    ) -> JobRecord | None:
        """Record the outcome, waiting out a database outage: the job ran, and its result should land."""
        delay = 0.2
        while not active.lost:
            try:
                return await self._store.finish(active.record.job_id, outcome, token=active.token, publish=publish)
            except DatabaseUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_SECONDS)
        return None

    # --- leases ------------------------------------------------------------------------------

    async def _keep_leases(self) -> None:
        """Renew the leases of every job running here, a few times per lease; stop those lost."""
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            running = {active.token: active for active in self.active.values() if not active.lost}
            try:
                held = await self._claims.renew(list(running), self.lease.seconds)
            except DatabaseUnavailable:
                continue  # unknown: keep working; the completion is fenced if the lease ran out
            for token, active in running.items():
                if token not in held and active.record.job_id in self.active:
                    self._lost(active, "its lease was not renewed (cancelled or taken over)")

    def _lost(self, active: _Active, why: str) -> None:
        log.warning("job %s stops here: %s", active.record.job_id, why)
        active.lost = True
        if active.task is not None:
            active.task.cancel()

    def _queued_elsewhere(self) -> None:
        self.depth += 1
        self.wake()

    async def _cancelled_elsewhere(self, job_id: str) -> None:
        active = self.active.get(job_id)
        if active is not None:
            self._lost(active, "it was cancelled on another replica")


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
