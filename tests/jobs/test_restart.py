"""Jobs across restarts: the app stops mid-job (cleanly, or as after a crash) and starts again on the
same data dir."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from tests.jobs.conftest import LONG_TEXT, SHORT_TEXT, AppRunner, EngineGate, submit, wait_for_status
from tests.support.audio import decode_bytes
from tts_server.runtime.jobs.options import options_to_params
from tts_server.runtime.jobs.queue import MAX_ATTEMPTS
from tts_server.runtime.speech import SpeechOptions
from tts_server.store.database import Database
from tts_server.store.job_claims import JobClaims, Lease
from tts_server.store.jobs import new_job_id, pending_row
from tts_server.store.schema import jobs


async def test_restart_mid_job_keeps_results_and_finishes_the_rest(run_app: AppRunner) -> None:
    async with run_app(job_workers=1) as running:
        done = await submit(running.client, SHORT_TEXT)
        await wait_for_status(running.client, done, "completed")
        done_audio = (await running.client.get(f"/jobs/{done}/result")).content
        gate = EngineGate(running.runner).__enter__()  # never released: the app stops mid-job
        interrupted = await submit(running.client, LONG_TEXT)
        await gate.wait_held()
        waiting = await submit(running.client, SHORT_TEXT)
        assert (await running.client.get(f"/jobs/{interrupted}")).json()["status"] == "processing"
        assert (await running.client.get(f"/jobs/{waiting}")).json()["status"] == "pending"

    async with run_app(job_workers=1) as running:
        client = running.client
        assert (await client.get(f"/jobs/{done}/result")).content == done_audio
        for job_id in (interrupted, waiting):
            job = await wait_for_status(client, job_id, "completed", "failed")
            assert job["status"] == "completed", job
            assert job["attempts"] == 1  # a clean stop does not count against the job
            assert decode_bytes((await client.get(f"/jobs/{job_id}/result")).content).duration > 1


async def test_job_left_processing_by_a_crash_is_retried_once_then_failed(run_app: AppRunner, data_dir: Path) -> None:
    params = options_to_params(SpeechOptions(text=SHORT_TEXT, voice="alloy", response_format="flac"))
    db = Database.open(data_dir)
    retried, given_up = new_job_id(), new_job_id()
    for job_id in (retried, given_up):
        # processing, attempt 1: what a crash leaves
        await JobClaims(db).create_claimed(pending_row(job_id, SHORT_TEXT, params, "flac"), Lease("crashed", 30))
    db.run_sync(lambda conn: conn.execute(update(jobs).where(jobs.c.job_id == given_up).values(attempts=MAX_ATTEMPTS)))
    db.close()

    async with run_app() as running:
        job = await wait_for_status(running.client, retried, "completed", "failed")
        assert job["status"] == "completed" and job["attempts"] == 2
        result = await running.client.get(f"/jobs/{retried}/result")
        assert result.headers["content-type"] == "audio/flac" and decode_bytes(result.content).duration > 1

        failed = (await running.client.get(f"/jobs/{given_up}")).json()
        assert failed["status"] == "failed" and "server stopped" in failed["error_message"]
