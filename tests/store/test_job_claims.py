"""Claims, leases and fencing of jobs, on SQLite and PostgreSQL: each job to one claimer at a time, a
lease that ran out passes the job on (counting the attempt), and a runner that lost its lease can no
longer write: its result never lands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from tts_server.store.database import Database
from tts_server.store.job_claims import JobClaims, Lease
from tts_server.store.jobs import JobOutcome, JobStatus, JobStore, new_job_id, pending_row
from tts_server.store.schema import jobs

A, B = Lease("a", 30), Lease("b", 30)
DONE = JobOutcome(JobStatus.COMPLETED, result_file="x.wav", media_type="audio/wav", engine="espeak", audio_seconds=1.0)


@pytest.fixture
async def db(data_dir: Path, db_url: str | None) -> AsyncIterator[Database]:
    database = await Database.connect(data_dir, db_url)
    yield database
    await database.aclose()


async def queue(store: JobStore, count: int) -> list[str]:
    ids = [new_job_id() for _ in range(count)]
    for job_id in ids:
        created = await store.create(job_id, "Hello.", {"text": "Hello."}, "wav")
        assert not isinstance(created, int)
    return ids


def expire(db: Database, job_id: str) -> None:
    db.run_sync(lambda conn: conn.execute(update(jobs).where(jobs.c.job_id == job_id).values(lease_expires_at=0)))


async def test_concurrent_claimers_each_get_a_different_job_in_order(db: Database) -> None:
    store, claims = JobStore(db), JobClaims(db)
    ids = await queue(store, 8)
    results = await asyncio.gather(*(claims.claim_next(Lease(f"r{n}", 30), 2) for n in range(10)))
    claimed = [result.record.job_id for result in results if result.record is not None]
    assert sorted(claimed) == sorted(ids) and len(set(claimed)) == 8  # two claimers found nothing
    assert await store.pending_count() == 0
    first = (await claims.claim_next(A, 2)).record
    assert first is None


async def test_a_job_created_claimed_is_never_seen_pending_by_another_claimer(db: Database) -> None:
    """A WebSocket job runs where it was asked for: claimers racing with its creation never get it."""
    claims = JobClaims(db)
    for _ in range(10):
        row = pending_row(new_job_id(), "Hello.", {"text": "Hello."}, "wav")
        created, *raced = await asyncio.gather(
            claims.create_claimed(row, A), *(claims.claim_next(B, 2) for _ in range(3))
        )
        assert [claim.record for claim in raced] == [None, None, None]
        assert created.status is JobStatus.PROCESSING and created.attempts == 1
    assert await JobStore(db).pending_count() == 0


async def test_an_expired_lease_passes_the_job_on_and_fences_the_first_runner(db: Database) -> None:
    store, claims = JobStore(db), JobClaims(db)
    [job_id] = await queue(store, 1)
    first = (await claims.claim_next(A, 2)).record
    assert first is not None and first.lease_owner == "a" and first.attempts == 1
    assert (await claims.claim_next(B, 2)).record is None  # a's lease holds
    expire(db, job_id)
    second = (await claims.claim_next(B, 2)).record
    assert second is not None and second.lease_owner == "b" and second.attempts == 2
    assert second.lease_token != first.lease_token

    assert await claims.renew([str(first.lease_token), str(second.lease_token)], 30) == {second.lease_token}
    assert not await claims.save_progress(job_id, str(first.lease_token), 50, "generating")
    published: list[str] = []
    late = await store.finish(job_id, DONE, token=first.lease_token, publish=lambda: published.append("a") or "a.wav")
    assert late is None and published == []  # a's result never lands
    await claims.requeue(job_id, str(first.lease_token))  # nor can a put the job back
    done = await store.finish(job_id, DONE, token=second.lease_token, publish=lambda: "b.wav")
    assert done is not None and done.status is JobStatus.COMPLETED and done.result_file == "b.wav"
    assert await store.finish(job_id, DONE, token=second.lease_token) is None  # never twice


async def test_a_job_whose_lease_runs_out_too_often_fails(db: Database) -> None:
    store, claims = JobStore(db), JobClaims(db)
    [job_id] = await queue(store, 1)
    for _ in range(2):
        assert (await claims.claim_next(A, 2)).record is not None
        expire(db, job_id)
    claim = await claims.claim_next(B, 2)
    assert claim.record is None and claim.given_up == (job_id,)
    failed = await store.get(job_id)
    assert failed is not None and failed.status is JobStatus.FAILED and "2 times" in str(failed.error_message)


async def test_a_clean_stop_requeues_without_counting_the_attempt(db: Database) -> None:
    store, claims = JobStore(db), JobClaims(db)
    [job_id] = await queue(store, 1)
    record = (await claims.claim_next(A, 2)).record
    assert record is not None
    await claims.requeue(job_id, str(record.lease_token))
    again = (await claims.claim_next(B, 2)).record
    assert again is not None and again.attempts == 1 and again.lease_owner == "b"


async def test_a_cancel_wins_over_the_runner(db: Database) -> None:
    store, claims = JobStore(db), JobClaims(db)
    [job_id] = await queue(store, 1)
    record = (await claims.claim_next(A, 2)).record
    assert record is not None
    cancelled = await store.finish(job_id, JobOutcome(JobStatus.CANCELLED, "Cancelled by the client."))
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    assert await store.finish(job_id, DONE, token=record.lease_token, publish=lambda: "a.wav") is None
    assert await claims.renew([str(record.lease_token)], 30) == set()  # the runner learns it at its next renewal


async def test_the_queue_bound_counts_pending_jobs(db: Database) -> None:
    store = JobStore(db)
    await queue(store, 2)
    assert await store.create(new_job_id(), "Hi.", {}, "wav", max_pending=2) == 2
    created = await store.create(new_job_id(), "Hi.", {}, "wav", max_pending=3)
    assert not isinstance(created, int) and created.status is JobStatus.PENDING
