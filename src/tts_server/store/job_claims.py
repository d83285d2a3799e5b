"""Who runs which job: claims under a lease, renewed while the job runs, fenced by a token.

A replica claims the oldest claimable job with SELECT ... FOR UPDATE SKIP LOCKED (replicas racing for
jobs each get a different one, and none waits on another's lock; SQLite serialises writers anyway).
A claimable job is pending, or processing under a lease that ran out: its replica died, or lost the
database for longer than the lease. Each claim counts one attempt, writes the lease's owner and expiry
(on the database's clock, so replicas' clocks need not agree) and a fresh token.

Fencing: every later write of the job's runner (progress, the completion, a requeue) checks the token.
A replica whose lease was taken over, or whose job was cancelled from elsewhere, learns it from a
write that changed nothing, and its result never lands: a job is completed at most once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from tts_server.errors import ErrorCode
from tts_server.store.database import Database
from tts_server.store.jobs import JobRecord, JobStatus, select_job
from tts_server.store.models import utc_now
from tts_server.store.schema import db_epoch, jobs

_JOBS = jobs.c
_PROCESSING = JobStatus.PROCESSING.value
_PENDING = JobStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class Lease:
    """What a replica claims jobs as: its id, and how long a claim lasts without renewal."""

    owner: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Claim:
    record: JobRecord | None  # the job now ours, or None when nothing was claimable
    given_up: tuple[str, ...]  # jobs whose lease ran out once too often: failed now


def given_up_message(max_attempts: int) -> str:
    return f"The server stopped while this job was being processed, {max_attempts} times; it is not retried again."


class JobClaims:
    """The lease side of the jobs table. Async methods run in a worker thread, one transaction each."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_claimed(self, row: dict[str, Any], lease: Lease) -> JobRecord:
        """Insert a job (a `pending_row`) already ours under `lease`, in one transaction: no job runner,
        here or on another replica, can see it pending and claim it first."""

        def insert_and_take(conn: Connection) -> JobRecord:
            conn.execute(insert(jobs).values(row))
            return _take(conn, row["job_id"], lease)

        return await self._db.run(insert_and_take)

    async def claim_next(self, lease: Lease, max_attempts: int) -> Claim:
        """The oldest claimable job, now ours; jobs found out of attempts are failed on the way."""

        def claim_next(conn: Connection) -> Claim:
            given_up: list[str] = []
            while True:
                row = conn.execute(_CLAIMABLE.with_for_update(skip_locked=True)).first()
                if row is None:
                    return Claim(None, tuple(given_up))
                if row.status == _PROCESSING and row.attempts >= max_attempts:
                    _give_up(conn, row.job_id, max_attempts)
                    given_up.append(row.job_id)
                    continue
                return Claim(_take(conn, row.job_id, lease), tuple(given_up))

        return await self._db.run(claim_next)

    async def renew(self, tokens: list[str], seconds: float) -> set[str]:
        """Extend the leases under `tokens`; returns those still held (the others were lost)."""

        def renew(conn: Connection) -> set[str]:
            held = _JOBS.lease_token.in_(tokens) & (_JOBS.status == _PROCESSING)
            conn.execute(update(jobs).where(held).values(lease_expires_at=db_epoch() + seconds))
            return set(conn.scalars(select(_JOBS.lease_token).where(held)))

        return await self._db.run(renew) if tokens else set()

    async def save_progress(self, job_id: str, token: str, progress: float, stage: str) -> bool:
        """Record progress; False when the lease is no longer this runner's."""

        def save(conn: Connection) -> bool:
            mine = (_JOBS.job_id == job_id) & (_JOBS.lease_token == token) & (_JOBS.status == _PROCESSING)
            return conn.execute(update(jobs).where(mine).values(progress=progress, stage=stage)).rowcount > 0

        return await self._db.run(save)

    async def requeue(self, job_id: str, token: str) -> None:
        """A job interrupted by a clean shutdown goes back to pending; the attempt is not held against it."""

        def requeue(conn: Connection) -> None:
            mine = (_JOBS.job_id == job_id) & (_JOBS.lease_token == token) & (_JOBS.status == _PROCESSING)
            conn.execute(update(jobs).where(mine).values({**_BACK_TO_PENDING, "attempts": _JOBS.attempts - 1}))

        await self._db.run(requeue)

    async def recover_exclusive(self, max_attempts: int) -> tuple[str, ...]:
        """At the start of the only server on its database (SQLite): every processing job was left by a
        crash. Those out of attempts fail; the others are pending again. Returns the failed ones."""

        def recover(conn: Connection) -> tuple[str, ...]:
            exhausted = (_JOBS.status == _PROCESSING) & (_JOBS.attempts >= max_attempts)
            given_up = tuple(conn.scalars(select(_JOBS.job_id).where(exhausted)))
            for job_id in given_up:
                _give_up(conn, job_id, max_attempts)
            conn.execute(update(jobs).where(_JOBS.status == _PROCESSING).values(_BACK_TO_PENDING))
            return given_up

        return await self._db.run(recover)

    async def live_tokens(self) -> set[str]:
        """Tokens of every processing job (their temp files are not garbage)."""

        def select_tokens(conn: Connection) -> set[str]:
            query = select(_JOBS.lease_token).where((_JOBS.status == _PROCESSING) & _JOBS.lease_token.is_not(None))
            return set(conn.scalars(query))

        return await self._db.run(select_tokens)


_CLAIMABLE = (
    select(_JOBS.job_id, _JOBS.status, _JOBS.attempts)
    .where(
        or_(
            _JOBS.status == _PENDING,
            and_(
                _JOBS.status == _PROCESSING,
                or_(_JOBS.lease_expires_at.is_(None), _JOBS.lease_expires_at < db_epoch()),
            ),
        )
    )
    .order_by(_JOBS.created_at)
    .limit(1)
)

_BACK_TO_PENDING = {
    "status": _PENDING,
    "stage": "queued",
    "progress": 0,
    "started_at": None,
    "lease_owner": None,
    "lease_token": None,
    "lease_expires_at": None,
}


def _take(conn: Connection, job_id: str, lease: Lease) -> JobRecord:
    conn.execute(
        update(jobs)
        .where(_JOBS.job_id == job_id)
        .values(
            status=_PROCESSING,
            attempts=_JOBS.attempts + 1,
            started_at=utc_now(),
            stage="generating",
            progress=0,
            lease_owner=lease.owner,
            lease_token=secrets.token_hex(16),
            lease_expires_at=db_epoch() + lease.seconds,
        )
    )
    record = select_job(conn, job_id)
    assert record is not None
    return record


def _give_up(conn: Connection, job_id: str, max_attempts: int) -> None:
    conn.execute(
        update(jobs)
        .where(_JOBS.job_id == job_id)
        .values(
            status=JobStatus.FAILED.value,
            stage=JobStatus.FAILED.value,
            error_message=given_up_message(max_attempts),
            error_code=ErrorCode.INTERNAL_ERROR.value,
            completed_at=utc_now(),
            lease_expires_at=None,
        )
    )
