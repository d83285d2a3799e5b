"""Async jobs through HTTP: a job's whole life, cancellation, the queue bound, fairness and bad ids."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

from tests.jobs.conftest import LONG_TEXT, SHORT_TEXT, AppRunner, EngineGate, submit, wait_for_status
from tests.support.audio import decode_bytes

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


async def test_job_life_from_submit_to_delete(run_app: AppRunner, data_dir: Path) -> None:
    async with run_app() as running:
        client = running.client
        job_id = await submit(client, SHORT_TEXT, voice_id="alloy", response_format="mp3")
        uuid.UUID(job_id)
        job = await wait_for_status(client, job_id, "completed", "failed")
        assert job["status"] == "completed", job
        assert job["progress"] == 100 and job["stage"] == "completed" and job["error_message"] is None
        assert job["text_preview"] == SHORT_TEXT
        assert job["result_url"] == f"/jobs/{job_id}/result"
        assert ISO_UTC.fullmatch(job["created_at"]) and ISO_UTC.fullmatch(job["completed_at"])
        assert job["duration"] >= 0 and job["attempts"] == 1 and job["audio_duration"] > 1

        result = await client.get(job["result_url"])
        assert result.status_code == 200
        assert result.headers["content-type"] == "audio/mpeg"
        decoded = decode_bytes(result.content)
        assert decoded.codec.startswith("mp3") and abs(decoded.duration - job["audio_duration"]) < 0.2
        assert (data_dir / "outputs" / f"{job_id}.mp3").is_file()

        listed = (await client.get("/jobs")).json()["jobs"]
        assert [entry["job_id"] for entry in listed] == [job_id]
        assert (await client.get("/jobs", params={"status": "pending"})).json() == {"jobs": []}

        deleted = await client.delete(f"/jobs/{job_id}")
        assert deleted.json()["status"] == "deleted"
        assert (await client.get(f"/jobs/{job_id}")).status_code == 404
        assert (await client.get(f"/jobs/{job_id}/result")).status_code == 404
        assert not (data_dir / "outputs" / f"{job_id}.mp3").exists()


async def test_wav_result_has_exact_header_sizes(run_app: AppRunner) -> None:
    async with run_app() as running:
        job_id = await submit(running.client, SHORT_TEXT)
        await wait_for_status(running.client, job_id, "completed")
        audio = (await running.client.get(f"/jobs/{job_id}/result")).content
    assert audio[:4] == b"RIFF" and int.from_bytes(audio[4:8], "little") == len(audio) - 8
    assert int.from_bytes(audio[40:44], "little") == len(audio) - 44
    assert decode_bytes(audio).duration > 1


async def test_list_filters_and_limit(run_app: AppRunner) -> None:
    async with run_app() as running:
        ids = [await submit(running.client, f"Job number {n}.") for n in range(3)]
        for job_id in ids:
            await wait_for_status(running.client, job_id, "completed")
        newest_two = (await running.client.get("/jobs", params={"limit": 2})).json()["jobs"]
        assert [job["job_id"] for job in newest_two] == ids[:0:-1]
        completed = (await running.client.get("/jobs", params={"status": "completed"})).json()["jobs"]
        assert len(completed) == 3
        assert (await running.client.get("/jobs", params={"status": "bogus"})).status_code == 422


async def test_result_of_unfinished_job_is_409_then_cancel_stops_the_synthesis(run_app: AppRunner) -> None:
    async with run_app() as running:
        client = running.client
        with EngineGate(running.runner) as gate:
            job_id = await submit(client, LONG_TEXT)
            await gate.wait_held()
            job = await wait_for_status(client, job_id, "processing")
            assert job["stage"] == "generating" and 0 < job["progress"] < 100

            early = await client.get(f"/jobs/{job_id}/result")
            assert early.status_code == 409
            assert early.json()["error_code"] == "JOB_NOT_FINISHED"
            assert "processing" in early.json()["detail"] and early.headers["Retry-After"]

            cancelled = await client.delete(f"/jobs/{job_id}")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
            assert gate.closed == 1  # the synthesis stream was closed, not left to run
            for _ in range(200):
                if running.runner.load().active == 0:
                    break
                await asyncio.sleep(0.01)
            assert running.runner.load().active == 0

        job = (await client.get(f"/jobs/{job_id}")).json()
        assert job["status"] == "cancelled" and job["error_message"]
        assert (await client.get(f"/jobs/{job_id}/result")).status_code == 409
        assert (await client.delete(f"/jobs/{job_id}")).json()["status"] == "deleted"


async def test_cancel_a_pending_job(run_app: AppRunner) -> None:
    async with run_app(job_workers=1) as running:
        client = running.client
        with EngineGate(running.runner) as gate:
            first = await submit(client, LONG_TEXT)
            await gate.wait_held()
            second = await submit(client, SHORT_TEXT)
            assert (await client.get(f"/jobs/{second}")).json()["status"] == "pending"
            assert (await client.delete(f"/jobs/{second}")).json()["status"] == "cancelled"
            gate.release()
            await wait_for_status(client, first, "completed")
        assert (await client.get(f"/jobs/{second}")).json()["status"] == "cancelled"


async def test_full_queue_is_503_with_retry_after(run_app: AppRunner) -> None:
    async with run_app(job_workers=1, max_jobs_queued=1) as running:
        with EngineGate(running.runner) as gate:
            await submit(running.client, LONG_TEXT)
            await gate.wait_held()
            await submit(running.client, SHORT_TEXT)  # waits: the one queue place
            refused = await running.client.post("/generate?async_mode=true", json={"text": SHORT_TEXT})
            assert refused.status_code == 503
            assert refused.json()["error_code"] == "QUEUE_FULL" and int(refused.headers["Retry-After"]) >= 1


async def test_requests_that_cannot_succeed_are_refused_at_submit(run_app: AppRunner) -> None:
    async with run_app(max_input_chars=50) as running:
        bad_voice = await running.client.post("/generate?async_mode=true", json={"text": "Hi.", "voice_id": "nobody"})
        assert bad_voice.status_code == 400 and bad_voice.json()["error_code"] == "INVALID_VOICE_ID"
        too_long = await running.client.post("/generate?async_mode=true", json={"text": "word " * 20})
        assert too_long.status_code == 400 and too_long.json()["error_code"] == "TEXT_TOO_LONG"
        bad_format = await running.client.post(
            "/generate?async_mode=true", json={"text": "Hi.", "response_format": "xyz"}
        )
        assert bad_format.status_code == 400
        assert (await running.client.get("/jobs")).json() == {"jobs": []}


async def test_engine_failure_fails_the_job_with_a_reason(run_app: AppRunner) -> None:
    async with run_app() as running:
        original = running.runner.synthesize

        async def broken(request: object) -> object:
            raise RuntimeError("the engine caught fire")
            yield  # an async generator, like the real one

        running.runner.synthesize = broken
        try:
            job_id = await submit(running.client, SHORT_TEXT)
            job = await wait_for_status(running.client, job_id, "failed")
        finally:
            running.runner.synthesize = original
        assert "caught fire" in job["error_message"] and job["error_code"] == "INTERNAL_ERROR"
        result = await running.client.get(f"/jobs/{job_id}/result")
        assert result.status_code == 409 and "failed" in result.json()["detail"]


async def test_unknown_ids_and_path_tricks_never_read_files(run_app: AppRunner, data_dir: Path) -> None:
    (data_dir / "secret.txt").write_text("do not serve me")
    async with run_app() as running:
        client = running.client
        assert (await client.get(f"/jobs/{uuid.uuid4()}")).status_code == 404
        for raw in (
            "/jobs/..%2Fsecret.txt/result",
            "/jobs/..%2F..%2Fsecret.txt/result",
            "/jobs/%2e%2e/result",
            "/jobs/not-a-job/result",
            f"/jobs/{str(uuid.uuid4()).upper()}/result",
            "/jobs/..%5Csecret.txt",
        ):
            response = await client.get(raw)
            assert response.status_code in (400, 404), raw
            assert b"do not serve me" not in response.content
            assert response.json()["error_code"] in ("NOT_FOUND", "INVALID_ID")
        assert (await client.delete("/jobs/..%2Fsecret.txt")).status_code == 404
    assert (data_dir / "secret.txt").exists()


async def test_save_outputs_off_deletes_a_result_once_downloaded(run_app: AppRunner, data_dir: Path) -> None:
    async with run_app(save_outputs=False) as running:
        job_id = await submit(running.client, SHORT_TEXT)
        await wait_for_status(running.client, job_id, "completed")
        assert (await running.client.get(f"/jobs/{job_id}/result")).status_code == 200
        await asyncio.sleep(0.1)  # the deletion runs after the response
        assert (await running.client.get(f"/jobs/{job_id}/result")).status_code == 404
        assert not (data_dir / "outputs" / f"{job_id}.wav").exists()


async def test_retention_removes_old_jobs_and_results(run_app: AppRunner, data_dir: Path) -> None:
    async with run_app() as running:
        job_id = await submit(running.client, SHORT_TEXT)
        await wait_for_status(running.client, job_id, "completed")
        orphan = data_dir / "outputs" / f"{uuid.uuid4()}.wav"
        orphan.write_bytes(b"left by a crash")
        assert await running.app.state.tts.jobs.retention.remove_expired() == 0  # 24 h: nothing is old enough
        response = await running.client.put("/config", json={"output_retention_hours": 0.0001})  # 0.36 s
        assert response.status_code == 200
        await asyncio.sleep(0.5)
        assert await running.app.state.tts.jobs.retention.remove_expired() == 1
        assert (await running.client.get(f"/jobs/{job_id}")).status_code == 404
    assert list((data_dir / "outputs").iterdir()) == []


async def test_jobs_leave_an_engine_worker_to_synchronous_requests(run_app: AppRunner) -> None:
    async with run_app(workers=2, job_workers=2) as running:
        client = running.client
        with EngineGate(running.runner) as gate:
            first = await submit(client, LONG_TEXT)
            second = await submit(client, LONG_TEXT)
            await gate.wait_held()
            await asyncio.sleep(0.2)
            assert gate.held == 1  # two engine workers: at most one runs a job
            assert (await client.get(f"/jobs/{second}")).json()["status"] == "pending"
            sync = await client.post("/v1/audio/speech", json={"input": "Not stuck behind the jobs."}, timeout=5)
            assert sync.status_code == 200 and decode_bytes(sync.content).duration > 0.5
            gate.release()
            await wait_for_status(client, first, "completed")
            await wait_for_status(client, second, "completed")


async def test_the_heap_is_trimmed_only_while_no_job_runs(run_app: AppRunner) -> None:
    async with run_app() as running:
        state = running.app.state.tts
        assert state.is_idle()
        assert await state.heap_trimmer.trim_if_idle() is state.heap_trimmer.available  # False off glibc
        with EngineGate(running.runner) as gate:
            created = await running.client.post("/generate", params={"async_mode": "true"}, json={"text": LONG_TEXT})
            assert created.status_code == 200, created.text
            await gate.wait_held()
            assert not state.is_idle()
            assert not await state.heap_trimmer.trim_if_idle()
            assert state.heap_trimmer.trims == int(state.heap_trimmer.available)
