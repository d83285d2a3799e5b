"""Async jobs in the database: one row per job, its request, state, lease and result file.

A row moves pending -> processing -> completed | failed | cancelled. Every move to a final state is a
conditional write on a locked row (`finish`), so when a cancel and a completion race, exactly one of
them wins and the loser learns it. The result audio itself is a file under outputs/, named
`<job_id>.<ext>`; the row records the name only once the file is complete.

Any replica may run any job: claims, leases and their fencing are in job_claims.py.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update

from tts_server.store.database import Database
from tts_server.store.models import utc_now
from tts_server.store.schema import jobs

PREVIEW_CHARS = 100
JOB_ID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_JOB_ID = re.compile(JOB_ID_PATTERN)
_JOBS = jobs.c


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
OPEN_STATUSES = (JobStatus.PENDING.value, JobStatus.PROCESSING.value)


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
    lease_owner: str | None = None  # the replica running it (while processing)
    lease_token: str | None = None  # fences that replica's writes (see job_claims.py)
    stream_audio: bool = False  # its audio is relayed to watchers on every replica


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


def new_job_id() -> str:
    return str(uuid.uuid4())


def is_job_id(value: str) -> bool:
    """Job ids are lower-case UUIDs; anything else (a path, a typo) is refused before any lookup."""
    return _JOB_ID.fullmatch(value) is not None


def text_preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 3] + "..."


def pending_row(
    job_id: str, text: str, params: dict[str, Any], response_format: str, *, stream_audio: bool = False
) -> dict[str, Any]:
    """The jobs-table row of a job just submitted."""
    return {
        "job_id": job_id,
        "status": JobStatus.PENDING.value,
        "stage": "queued",
        "text_preview": text_preview(text),
        "params": json.dumps(params),
        "response_format": response_format,
        "created_at": utc_now(),
        "stream_audio": stream_audio,
    }


class JobStore:
    """Rows of the jobs table. Async methods run their SQL in a worker thread, one transaction each."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db

    async def create(
        self,
        job_id: str,
        text: str,
        params: dict[str, Any],
        response_format: str,
        *,
        stream_audio: bool = False,
        max_pending: int | None = None,
    ) -> JobRecord | int:
        """Insert a pending job. With `max_pending`, when that many jobs already wait, insert nothing
        and return how many wait."""
        row = pending_row(job_id, text, params, response_format, stream_audio=stream_audio)

        def insert_row(conn: Connection) -> JobRecord | int:
            if max_pending is not None:
                waiting = count_pending(conn)
                if waiting >= max_pending:
                    return waiting
            conn.execute(insert(jobs).values(row))
            record = select_job(conn, job_id)
            assert record is not None
            return record

        return await self._db.run(insert_row)

    async def get(self, job_id: str) -> JobRecord | None:
        return await self._db.run(lambda conn: select_job(conn, job_id))

    async def get_many(self, job_ids: list[str]) -> list[JobRecord]:
        def select_many(conn: Connection) -> list[JobRecord]:
            return [_record(row._mapping) for row in conn.execute(select(jobs).where(_JOBS.job_id.in_(job_ids)))]

        return await self._db.run(select_many) if job_ids else []

    async def list_jobs(self, status: JobStatus | None, limit: int) -> list[JobRecord]:
        def select_rows(conn: Connection) -> list[JobRecord]:
            query = select(jobs).order_by(_JOBS.created_at.desc()).limit(limit)
            if status is not None:
                query = query.where(_JOBS.status == status.value)
            return [_record(row._mapping) for row in conn.execute(query)]

        return await self._db.run(select_rows)

    async def pending_count(self) -> int:
        return await self._db.run(count_pending)

    async def finish(
        self,
        job_id: str,
        outcome: JobOutcome,
        *,
        expected: JobStatus | None = None,
        token: str | None = None,
        publish: Callable[[], str] | None = None,
    ) -> JobRecord | None:
        """Move an open job (or only one in status `expected`, or only one still leased under `token`)
        to its final state. None when it was not in such a state any more: whoever changed it first won.

        `publish` runs inside the transaction, on the locked row, once the job is known to be ours: it
        moves the result file into place and returns its name (a lost lease never touches the file)."""
        now = utc_now()

        def finish(conn: Connection) -> JobRecord | None:
            current = select_job(conn, job_id, for_update=True)
            if current is None or current.status.finished or expected not in (None, current.status):
                return None
            if token is not None and current.lease_token != token:
                return None
            result_file = publish() if publish is not None else outcome.result_file
            duration = (now - current.started_at).total_seconds() if current.started_at else None
            values = {
                "status": outcome.status.value,
                "error_message": outcome.error_message,
                "error_code": outcome.error_code,
                "result_file": result_file,
                "media_type": outcome.media_type,
                "engine": outcome.engine,
                "audio_seconds": outcome.audio_seconds,
                "completed_at": now,
                "duration": duration,
                "stage": outcome.status.value,
                "lease_expires_at": None,
            }
            if outcome.status is JobStatus.COMPLETED:
                values["progress"] = 100
            conn.execute(update(jobs).where(_JOBS.job_id == job_id).values(values))
            return select_job(conn, job_id)

        return await self._db.run(finish)

    async def clear_result(self, job_id: str) -> str | None:
        """Forget a result file (it is being deleted); returns its name, or None if there was none."""

        def clear(conn: Connection) -> str | None:
            current = select_job(conn, job_id, for_update=True)
            if current is None or current.result_file is None:
                return None
            conn.execute(update(jobs).where(_JOBS.job_id == job_id).values(result_file=None))
            return current.result_file

        return await self._db.run(clear)

    async def delete(self, job_id: str) -> JobRecord | None:
        """Remove a finished job's row; returns it (for its result file), or None if it was not finished."""

        def remove(conn: Connection) -> JobRecord | None:
            current = select_job(conn, job_id, for_update=True)
            if current is None or not current.status.finished:
                return None
            conn.execute(delete(jobs).where(_JOBS.job_id == job_id))
            return current

        return await self._db.run(remove)

    async def delete_finished_before(self, cutoff: datetime) -> list[JobRecord]:
        """Remove finished jobs that ended before `cutoff`; returns them, for their result files."""

        def remove(conn: Connection) -> list[JobRecord]:
            expired = _JOBS.status.not_in(OPEN_STATUSES) & (_JOBS.completed_at < cutoff)
            rows = [_record(row._mapping) for row in conn.execute(select(jobs).where(expired))]
            if rows:
                conn.execute(delete(jobs).where(_JOBS.job_id.in_([row.job_id for row in rows])))
            return rows

        return await self._db.run(remove)

    async def result_files(self) -> set[str]:
        """Names of every result file a row still points to (to tell orphans apart)."""

        def select_names(conn: Connection) -> set[str]:
            return {str(name) for name in conn.scalars(select(_JOBS.result_file).where(_JOBS.result_file.is_not(None)))}

        return await self._db.run(select_names)


def count_pending(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(jobs).where(_JOBS.status == JobStatus.PENDING.value)) or 0)


def select_job(conn: Connection, job_id: str, *, for_update: bool = False) -> JobRecord | None:
    query = select(jobs).where(_JOBS.job_id == job_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return _record(row._mapping) if row else None


def _record(row: RowMapping) -> JobRecord:
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
        created_at=row["created_at"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        duration=row["duration"],
        lease_owner=row["lease_owner"],
        lease_token=row["lease_token"],
        stream_audio=bool(row["stream_audio"]),
    )
