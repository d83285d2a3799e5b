"""Jobs through replicas on PostgreSQL: N short jobs run by two replicas, jobs/s, none run twice.

Starts a real PostgreSQL (pgserver) and real server processes (`python -m tts_server`, espeak, one
engine worker each) on one database and one data dir: the worker replicas, and a front replica that
runs no jobs (TTS_JOB_WORKERS=0) and takes the submissions. The workers are frozen (SIGSTOP) while
--jobs short async jobs are submitted (--clients at once), then released: jobs/s is the drain, from
their release to the last completion, so it measures the replicas running jobs, not the submitting.
Checks: every job completed, on its first attempt, and exactly once according to the replicas' own
logs; a sample of results decodes. With --compare, the same run with one worker replica first (same
database server), for the ratio.

Run: .venv/bin/python bench/replicas_bench.py --jobs 1000 --compare   (results in bench/replicas.md)
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.conftest import Cluster, wait_until
from tests.support.audio import decode_bytes
from tests.support.postgres import PostgresForTests

REPLICA_ENV = {"TTS_MAX_JOBS_QUEUED": "100000", "TTS_JOB_LEASE_SECONDS": "30"}


def run(postgres: PostgresForTests, base: Path, replicas: int, jobs: int, clients: int) -> dict[str, Any]:
    data_dir, logs = base / f"data-{replicas}", base / f"logs-{replicas}"
    data_dir.mkdir()
    logs.mkdir()
    cluster = Cluster(postgres.new_database(), data_dir, logs)
    try:
        front = cluster.start("front", TTS_JOB_WORKERS="0", **REPLICA_ENV)
        workers = [cluster.start(f"r{n}", **REPLICA_ENV) for n in range(replicas)]
        for worker in workers:
            worker.pause()
        texts = [f"Job number {n}, a short one for the queue." for n in range(jobs)]
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            ids = list(pool.map(lambda text: _submit(front.url, text), texts))
        submitted = time.perf_counter() - began
        began = time.perf_counter()
        for worker in workers:
            worker.resume()

        def finished() -> bool:
            counts = dict(cluster.rows("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
            return counts.get("pending", 0) == 0 and counts.get("processing", 0) == 0

        wait_until(finished, 3600, "every job to finish")
        elapsed = time.perf_counter() - began
        return _report(cluster, ids, replicas, submitted, elapsed)
    finally:
        cluster.stop()


def _submit(url: str, text: str) -> str:
    response = httpx.post(f"{url}/generate", params={"async_mode": "true"}, json={"text": text}, timeout=60)
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    return job_id


def _report(cluster: Cluster, ids: list[str], replicas: int, submitted: float, elapsed: float) -> dict[str, Any]:
    rows = cluster.rows("SELECT job_id, status, attempts, lease_owner FROM jobs")
    statuses = collections.Counter(status for _, status, _, _ in rows)
    attempts = collections.Counter(attempt for _, _, attempt, _ in rows)
    ran_by = collections.Counter(owner for _, _, _, owner in rows)
    completions = collections.Counter(job for job, _ in cluster.completions())
    twice = [job for job, count in completions.items() if count > 1]
    never = [job for job in ids if completions[job] == 0]
    replica = cluster.replicas[-1]
    sample = [
        httpx.get(f"{replica.url}/jobs/{job}/result", timeout=60).content for job in ids[:: max(1, len(ids) // 10)]
    ]
    return {
        "replicas": replicas,
        "jobs": len(ids),
        "drain_seconds": round(elapsed, 2),
        "jobs_per_second": round(len(ids) / elapsed, 1),
        "submissions_per_second": round(len(ids) / submitted, 1),
        "statuses": dict(statuses),
        "attempts": dict(attempts),
        "ran_by": dict(ran_by),
        "completed_twice": len(twice),
        "completed_never": len(never),
        "sample_results_decoded": sum(decode_bytes(audio).duration > 0.5 for audio in sample),
        "sample_size": len(sample),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8, help="submissions in flight at once")
    parser.add_argument("--compare", action="store_true", help="run on one replica first, for the ratio")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="tts-bench-") as temp:
        postgres = PostgresForTests(Path(temp) / "pg")
        try:
            for replicas in [1, 2] if args.compare else [2]:
                result = run(postgres, Path(temp), replicas, args.jobs, args.clients)
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            postgres.stop()
    ok = all(
        r["completed_twice"] == 0 and r["completed_never"] == 0 and r["statuses"] == {"completed": r["jobs"]}
        for r in results
    )
    print("checks:", "every job completed exactly once" if ok else "FAILED", flush=True)
    if args.out:
        args.out.write_text(
            json.dumps({"results": results, "loadavg": Path("/proc/loadavg").read_text().strip()}, indent=2)
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
