"""Two (or three) server processes on one PostgreSQL database and one data dir, as behind a load
balancer: voices, config, jobs, cancellation and live progress cross between them; a replica killed
with SIGKILL and a database restart are survived, no job stuck and none completed twice."""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.cluster.conftest import LEASE_SECONDS, Cluster, Replica, wait_until
from tests.store.conftest import voice_wav
from tests.support.audio import decode_bytes
from tests.support.postgres import PostgresForTests

LONG_TEXT = " ".join(f"Chapter {n} begins here, and the narrator reads it slowly and with care." for n in range(1, 45))


def submit(replica: Replica, text: str, **fields: Any) -> str:
    with replica.client() as client:
        response = client.post("/generate", params={"async_mode": "true"}, json={"text": text, **fields})
    assert response.status_code == 200, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def status(replica: Replica, job_id: str) -> dict[str, Any]:
    with replica.client() as client:
        body: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        return body


def all_finished(cluster: Cluster, job_ids: list[str]) -> bool:
    jobs = cluster.jobs()
    return all(jobs[job_id][0] in ("completed", "failed", "cancelled") for job_id in job_ids)


def assert_completed_exactly_once(cluster: Cluster, job_ids: list[str]) -> None:
    jobs = cluster.jobs()
    assert {job_id: jobs[job_id][0] for job_id in job_ids} == dict.fromkeys(job_ids, "completed")
    completions = collections.Counter(job for job, _ in cluster.completions())
    assert {job_id: completions[job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1), "a job completed twice"


def ws_url(replica: Replica) -> str:
    return replica.url.replace("http://", "ws://") + "/ws/generate"


def test_voices_mappings_and_config_cross_replicas(cluster: Cluster) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    with a.client() as on_a, b.client() as on_b:
        files = {"audio": ("anna.wav", voice_wav(seconds=1.5), "audio/wav")}
        assert (
            on_a.post("/v1/references/add", data={"id": "Anna", "text": "Hello there."}, files=files).status_code == 200
        )
        spoken = on_b.post("/v1/audio/speech", json={"input": "Spoken on the other replica.", "voice": "anna"})
        assert spoken.status_code == 200, spoken.text
        assert decode_bytes(spoken.content).duration > 0.5
        mapping = {"voice_id": "teller", "style": "calm", "audio_prompt": "Anna"}
        assert on_b.post("/voice_mappings", json=mapping).status_code == 200
        assert on_a.post("/v1/audio/speech", json={"input": "Mapped elsewhere.", "voice": "teller"}).status_code == 200

        assert on_a.put("/config", json={"output_retention_hours": 7.5}).status_code == 200
        wait_until(lambda: on_b.get("/config").json()["output_retention_hours"] == 7.5, 10, "config on b")

        on_a.delete("/v1/references/Anna")
        gone = on_b.post("/v1/audio/speech", json={"input": "No more.", "voice": "anna"})
        assert gone.status_code == 400 and gone.json()["error_code"] == "INVALID_VOICE_ID"
        health = on_b.get("/health").json()
        assert health["replica_id"] == "b" and health["database"] == {"dialect": "postgresql", "reachable": True}


def test_twenty_jobs_through_both_replicas_complete_exactly_once(cluster: Cluster) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    job_ids = [
        submit(a if n % 2 else b, f"Job number {n} of twenty, spoken once.", response_format="mp3") for n in range(20)
    ]
    wait_until(lambda: all_finished(cluster, job_ids), 120, "twenty jobs to finish")
    assert_completed_exactly_once(cluster, job_ids)
    jobs = cluster.jobs()
    assert {jobs[job_id][1] for job_id in job_ids} == {1}  # no job ran a second time
    assert {jobs[job_id][2] for job_id in job_ids} == {"a", "b"}  # both replicas took jobs
    with a.client() as on_a, b.client() as on_b:
        for job_id in job_ids[:4]:
            from_a, from_b = on_a.get(f"/jobs/{job_id}/result"), on_b.get(f"/jobs/{job_id}/result")
            assert from_a.status_code == from_b.status_code == 200 and from_a.content == from_b.content
            assert decode_bytes(from_a.content).duration > 1


def test_websocket_on_one_replica_follows_jobs_run_by_another(cluster: Cluster) -> None:
    front = cluster.start("front", TTS_JOB_WORKERS="0")  # runs no jobs: every job runs on the worker
    cluster.start("worker")
    with connect(ws_url(front), open_timeout=30) as ws:
        ws.send(json.dumps({"type": "generate", "data": {"text": "Followed from afar.", "response_format": "wav"}}))
        kinds = []
        while True:
            message = json.loads(ws.recv(timeout=60))
            kinds.append(message["type"])
            if message["type"] != "progress":
                break
        assert message["type"] == "complete" and "progress" in kinds, kinds
        queued_job = message["job_id"]

        ws.send(
            json.dumps(
                {"type": "generate", "data": {"text": LONG_TEXT[:600], "stream": True, "response_format": "wav"}}
            )
        )
        frames: list[bytes] = []
        while True:
            received = ws.recv(timeout=60)
            if isinstance(received, bytes):
                frames.append(received)
                continue
            message = json.loads(received)
            if message["type"] in ("complete", "error", "cancelled"):
                break
        assert message["type"] == "complete", message
    assert cluster.jobs()[queued_job][2] == "worker" and cluster.jobs()[message["job_id"]][2] == "worker"
    with front.client() as client:
        stored = client.get(message["audio_url"]).content
    streamed = b"".join(frames)
    assert len(frames) > 1 and decode_bytes(streamed).duration == pytest.approx(decode_bytes(stored).duration, abs=0.05)
    assert streamed[44:] == stored[44:]  # the same audio (a streamed WAV header says "unknown length")


def test_cancel_on_one_replica_stops_the_job_where_it_runs(cluster: Cluster) -> None:
    long_enough = {"TTS_MAX_INPUT_CHARS": "50000"}  # a job that runs for many seconds
    front = cluster.start("front", TTS_JOB_WORKERS="0", **long_enough)
    worker = cluster.start("worker", **long_enough)
    job_id = submit(front, LONG_TEXT * 12, response_format="mp3")
    wait_until(lambda: status(front, job_id)["status"] == "processing", 60, "the job to start on the worker")
    with front.client() as client:
        cancelled = client.delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_until(lambda: "cancelled on another replica" in worker.log.read_text(), 15, "the worker to stop the job")
    with worker.client() as client:
        wait_until(lambda: client.get("/stats").json()["jobs"]["active_jobs"] == 0, 15, "the worker to be idle")
        assert client.get(f"/jobs/{job_id}").json()["status"] == "cancelled"
        assert client.get(f"/jobs/{job_id}/result").status_code == 409
    assert cluster.completions() == []


def test_a_killed_replicas_jobs_finish_on_the_other_after_the_lease(cluster: Cluster) -> None:
    a = cluster.start("a", TTS_JOB_WORKERS="1")
    job_ids = [submit(a, LONG_TEXT, response_format="mp3") for _ in range(3)]

    def running_on_a() -> bool:
        return any(state == "processing" and owner == "a" for state, _, owner in cluster.jobs().values())

    wait_until(running_on_a, 60, "a to run a job")
    b = cluster.start("b")  # started now, so that a surely holds a job when it dies
    wait_until(running_on_a, 60, "a to run a job")
    a.kill()
    orphaned = [
        job_id for job_id, (state, _, owner) in cluster.jobs().items() if state == "processing" and owner == "a"
    ]
    assert orphaned, "a finished its job just before it was killed; nothing to take over"
    wait_until(lambda: all_finished(cluster, job_ids), 180, "b to finish every job")
    assert_completed_exactly_once(cluster, job_ids)
    jobs = cluster.jobs()
    for job_id in orphaned:
        assert jobs[job_id][1:] == (2, "b")  # a second attempt, on b, once a's lease of 3 s ran out
    with b.client() as client:
        for job_id in job_ids:
            audio = client.get(f"/jobs/{job_id}/result").content
            assert decode_bytes(audio).duration > 20  # whole: every sentence of the long text
    assert LEASE_SECONDS < 10


def test_a_database_restart_is_survived(cluster: Cluster, postgres: PostgresForTests) -> None:
    a, b = cluster.start("a"), cluster.start("b")
    first = [submit(a if n % 2 else b, f"Before the restart, job {n}.") for n in range(6)]
    postgres.restart()
    for replica in (a, b):  # what needs the database answers 503 at worst, and comes back by itself
        wait_until(lambda replica=replica: _job_list_ok(replica), 60, f"{replica.name} to reach the database again")
    second = [submit(a if n % 2 else b, f"After the restart, job {n}.") for n in range(6)]
    wait_until(lambda: all_finished(cluster, first + second), 120, "every job to finish")
    assert_completed_exactly_once(cluster, first + second)
    with a.client() as on_a, b.client() as on_b:
        assert on_a.put("/config", json={"output_retention_hours": 9.0}).status_code == 200
        wait_until(lambda: on_b.get("/config").json()["output_retention_hours"] == 9.0, 20, "b to hear of it")
        assert on_b.get("/health").json()["database"]["reachable"]


def _job_list_ok(replica: Replica) -> bool:
    with replica.client() as client:
        response = client.get("/jobs")
    assert response.status_code in (200, 503), response.text
    if response.status_code == 503:
        assert response.json()["error_code"] == "DATABASE_UNAVAILABLE" and response.headers["Retry-After"]
    return response.status_code == 200


def test_a_replica_paused_past_its_lease_does_not_complete_the_job_again(cluster: Cluster) -> None:
    """SIGSTOP, not SIGKILL: a replica that comes back after its lease ran out (a long GC pause, a
    frozen VM) still believes it runs the job. Its writes are fenced: the job completes once, on b."""
    a = cluster.start("a", TTS_MAX_INPUT_CHARS="50000")
    job_id = submit(a, LONG_TEXT * 2, response_format="mp3")
    wait_until(lambda: cluster.jobs()[job_id][0] == "processing", 60, "a to start the job")
    a.pause()
    try:
        b = cluster.start("b", TTS_MAX_INPUT_CHARS="50000")
        wait_until(lambda: cluster.jobs()[job_id][2] == "b", 60, "b to take the job over once a's lease ran out")
    finally:
        a.resume()
    wait_until(lambda: all_finished(cluster, [job_id]), 120, "the job to finish")
    wait_until(lambda: "stops here" in a.log.read_text() or "lease was lost" in a.log.read_text(), 60, "a to give up")
    assert_completed_exactly_once(cluster, [job_id])
    assert cluster.jobs()[job_id][1:] == (2, "b")
    with b.client() as client:
        assert decode_bytes(client.get(f"/jobs/{job_id}/result").content).duration > 40
