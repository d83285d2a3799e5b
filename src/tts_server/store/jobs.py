"""Async jobs in the embedded database: one row per job, its request, state and result file.

A row moves pending -> processing -> completed | failed | cancelled. Every move to a final state is a
conditional UPDATE (`WHERE status IN ('pending', 'processing')`), so when a cancel and a completion race,
exactly one of them wins and the loser learns it. The result audio itself is a file under outputs/,
named `<job_id>.<ext>`; the row records the name only once the file is complete.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tts_server.store.database import Database, Schema, sql_migration
from tts_server.store.models import from_db_time, to_db_time, utc_now

PREVIEW_CHARS = 100
JOB_ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_JOB_ID = re.compile(JOB_ID_PATTERN)


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_OPEN = "('pending', 'processing')"

JOBS_SCHEMA = Schema(
    name="jobs",
    migrations=(
        sql_migration(
            """CREATE TABLE jobs (
                job_id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                progress REAL NOT NULL DEFAULT 0,
                stage TEXT,
                error_message TEXT,
                error_code TEXT,
                text_preview TEXT NOT NULL,
                params TEXT NOT NULL,
                response_format TEXT NOT NULL,
                media_type TEXT,
                result_file TEXT,
                engine TEXT,
                audio_seconds REAL,
                attempts INTEGER NOT NULL DEFAULT 0,
                created_at TEXT NOT NULL,
                started_at TEXT,
                completed_at TEXT,
                duration REAL
            )""",
            "CREATE INDEX jobs_by_status ON jobs (status, created_at)",
            "CREATE INDEX jobs_by_created ON jobs (created_at)",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    status: JobStatus
    progress: float  # 0-100
    stage: str | None
    error_message: str | None
    error_code: str | None
    text_preview: str
    params: dict[str, Any]  # the speech request, enough to run it again after a restart
    response_format: str
    media_type: str | None
    result_file: str | None  # file name under outputs/, set once the file is complete
    engine: str | None
    audio_seconds: float | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration: float | None  # seconds from start of processing to the end


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """The fields a job's final state sets."""

    status: JobStatus
    error_message: str | None = None
    error_code: str | None = None
    result_file: str | None = None
    media_type: str | None = None
    engine: str | None = None
    audio_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Recovery:
    """What the start-up scan found: jobs to run again, in their original order, and jobs given up."""

    runnable: tuple[str, ...]
    given_up: tuple[str, ...]


def new_job_id() -> str:
    return str(uuid.uuid4())


def is_job_id(value: str) -> bool:
    """Job ids are lower-case UUIDs; anything else (a path, a typo) is refused before any lookup."""
    return _JOB_ID.fullmatch(value) is not None


def text_preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 3] + "..."


class JobStore:
    """Rows of the jobs table. Async methods run their SQL in a worker thread, one transaction each."""

    def __init__(self, db: Database) -> None:
        db.ensure_schema(JOBS_SCHEMA)
        self._db = db

    async def create(self, job_id: str, text: str, params: dict[str, Any], response_format: str) -> JobRecord:
        now = to_db_time(utc_now())
        row = (job_id, JobStatus.PENDING.value, "queued", text_preview(text), json.dumps(params), response_format, now)

        def insert(conn: sqlite3.Connection) -> JobRecord:
            conn.execute(
                "INSERT INTO jobs (job_id, status, stage, text_preview, params, response_format, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return _select(conn, job_id)  # type: ignore[return-value]

        return await self._db.run(insert)

    async def get(self, job_id: str) -> JobRecord | None:
        return await self._db.run(lambda conn: _select(conn, job_id))

    async def list_jobs(self, status: JobStatus | None, limit: int) -> list[JobRecord]:
        def select(conn: sqlite3.Connection) -> list[JobRecord]:
            if status is None:
                rows = conn.execute("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
            else:
                rows = conn.execute(
                    "SELECT * FROM jobs WHERE status = ? ORDER BY created_at DESC LIMIT ?", (status.value, limit)
                )
            return [_record(row) for row in rows]

        return await self._db.run(select)

    async def claim(self, job_id: str) -> JobRecord | None:
        """Pending -> processing (one more attempt). None when the job is no longer pending."""

        def claim(conn: sqlite3.Connection) -> JobRecord | None:
            updated = conn.execute(
                "UPDATE jobs SET status = 'processing', attempts = attempts + 1, started_at = ?, "
                "stage = 'generating', progress = 0 WHERE job_id = ? AND status = 'pending'",
                (to_db_time(utc_now()), job_id),
            ).rowcount
            return _select(conn, job_id) if updated else None

        return await self._db.run(claim)

    async def save_progress(self, job_id: str, progress: float, stage: str) -> None:
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET progress = ?, stage = ? WHERE job_id = ? AND status = 'processing'",
                (progress, stage, job_id),
            )
        )

    async def finish(
        self, job_id: str, outcome: JobOutcome, *, expected: JobStatus | None = None
    ) -> JobRecord | None:
        """Move an open job (or only one in status `expected`) to its final state. None when it was
        not in such a state any more: whoever changed it first won."""
        now = utc_now()

        def finish(conn: sqlite3.Connection) -> JobRecord | None:
            current = _select(conn, job_id)
            if current is None or current.status.finished or expected not in (None, current.status):
                return None
            duration = (now - current.started_at).total_seconds() if current.started_at else None
            conn.execute(
                "UPDATE jobs SET status = ?, error_message = ?, error_code = ?, result_file = ?, media_type = ?, "
                "engine = ?, audio_seconds = ?, completed_at = ?, duration = ?, stage = ?, "
                "progress = CASE WHEN ? = 'completed' THEN 100 ELSE progress END WHERE job_id = ?",
                (
                    outcome.status.value, outcome.error_message, outcome.error_code, outcome.result_file,
                    outcome.media_type, outcome.engine, outcome.audio_seconds, to_db_time(now), duration,
                    outcome.status.value, outcome.status.value, job_id,
                ),
            )
            return _select(conn, job_id)

        return await self._db.run(finish)

    async def clear_result(self, job_id: str) -> str | None:
        """Forget a result file (it is being deleted); returns its name, or None if there was none."""

        def clear(conn: sqlite3.Connection) -> str | None:
            current = _select(conn, job_id)
            if current is None or current.result_file is None:
                return None
            conn.execute("UPDATE jobs SET result_file = NULL WHERE job_id = ?", (job_id,))
            return current.result_file

        return await self._db.run(clear)

    async def requeue(self, job_id: str) -> None:
        """A job interrupted by a clean shutdown goes back to pending; the attempt is not held against it."""
        await self._db.run(
            lambda conn: conn.execute(
                "UPDATE jobs SET status = 'pending', stage = 'queued', progress = 0, started_at = NULL, "
                "attempts = MAX(attempts - 1, 0) WHERE job_id = ? AND status = 'processing'",
                (job_id,),
            )
        )

    async def recover(self, max_attempts: int) -> Recovery:
        """At start-up: jobs left processing by a crash run again until they used `max_attempts`."""

        def recover(conn: sqlite3.Connection) -> Recovery:
            given_up = [
                row["job_id"]
                for row in conn.execute(
                    "SELECT job_id FROM jobs WHERE status = 'processing' AND attempts >= ?", (max_attempts,)
                )
            ]
            reason = (
                f"The server stopped while this job was being processed, {max_attempts} times; "
                "it is not retried again."
            )
            for job_id in given_up:
                conn.execute(
                    "UPDATE jobs SET status = 'failed', stage = 'failed', error_message = ?, error_code = ?, "
                    "completed_at = ? WHERE job_id = ?",
                    (reason, "INTERNAL_ERROR", to_db_time(utc_now()), job_id),
                )
            conn.execute(
                "UPDATE jobs SET status = 'pending', stage = 'queued', progress = 0 WHERE status = 'processing'"
            )
            runnable = [
                row["job_id"]
                for row in conn.execute("SELECT job_id FROM jobs WHERE status = 'pending' ORDER BY created_at")
            ]
            return Recovery(tuple(runnable), tuple(given_up))

        return await self._db.run(recover)

    async def delete(self, job_id: str) -> JobRecord | None:
        """Remove a finished job's row; returns it (for its result file), or None if it was not finished."""

        def delete(conn: sqlite3.Connection) -> JobRecord | None:
            current = _select(conn, job_id)
            if current is None or not current.status.finished:
                return None
            conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
            return current

        return await self._db.run(delete)

    async def delete_finished_before(self, cutoff: datetime) -> list[JobRecord]:
        """Remove finished jobs that ended before `cutoff`; returns them, for their result files."""

        def delete(conn: sqlite3.Connection) -> list[JobRecord]:
            rows = [
                _record(row)
                for row in conn.execute(
                    f"SELECT * FROM jobs WHERE status NOT IN {_OPEN} AND completed_at < ?", (to_db_time(cutoff),)
                )
            ]
            conn.executemany("DELETE FROM jobs WHERE job_id = ?", [(row.job_id,) for row in rows])
            return rows

        return await self._db.run(delete)

    async def result_files(self) -> set[str]:
        """Names of every result file a row still points to (to tell orphans apart)."""

        def select(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute("SELECT result_file FROM jobs WHERE result_file IS NOT NULL")
            return {str(row["result_file"]) for row in rows}

        return await self._db.run(select)


def _select(conn: sqlite3.Connection, job_id: str) -> JobRecord | None:
    row = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    return _record(row) if row else None


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        status=JobStatus(row["status"]),
        progress=float(row["progress"]),
        stage=row["stage"],
        error_message=row["error_message"],
        error_code=row["error_code"],
        text_preview=row["text_preview"],
        params=json.loads(row["params"]),
        response_format=row["response_format"],
        media_type=row["media_type"],
        result_file=row["result_file"],
        engine=row["engine"],
        audio_seconds=row["audio_seconds"],
        attempts=int(row["attempts"]),
        created_at=from_db_time(row["created_at"]),
        started_at=_time(row["started_at"]),
        completed_at=_time(row["completed_at"]),
        duration=row["duration"],
    )


def _time(value: str | None) -> datetime | None:
    return from_db_time(value) if value else None

