"""Where a one-sentence POST /v1/audio/speech (wav) spends CPU: the server process, each engine worker,
and the client, against the engine's raw synthesis of the same sentence in this process.

CPU time is read from /proc/<pid>/task/<tid>/schedstat (nanoseconds, every thread), not from the
tick-sampled utime, so a request's few hundred microseconds are counted exactly. Requests run one at a
time, so their wall time is close to the sum of these CPU times: what the server adds over the raw
synthesis is the server's own CPU, the worker's CPU beyond the synthesis, and the client's share.

Usage: .venv/bin/python bench/cpu_split.py [--requests 1000]   (Linux only)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

import psutil
from foundation_bench import (
    SENTENCE,
    BlockingClient,
    espeak_engine,
    free_port,
    start_server,
    synthesis_seconds,
    wait_healthy,
)


def cpu_ns_by_process(pids: list[int]) -> dict[int, int]:
    """Nanoseconds each process has run, summed over its threads."""
    totals = dict.fromkeys(pids, 0)
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):  # a thread that ended meanwhile
                totals[pid] += int((task / "schedstat").read_text().split()[0])
    return totals


def label(process: psutil.Process, server_pid: int) -> str:
    if process.pid == server_pid:
        return "server (event loop and threads)"
    command = " ".join(process.cmdline())
    return "resource tracker" if "resource_tracker" in command else f"engine worker {process.pid}"


def measure(requests: int) -> None:
    body = json.dumps({"input": SENTENCE, "response_format": "wav"}).encode()
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        server = start_server(Path(data_dir), port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base)
            with BlockingClient(base) as client:
                for _ in range(300):  # warm-up
                    client.post_json("/v1/audio/speech", body)
                processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
                pids = [process.pid for process in processes]
                before, client_before = cpu_ns_by_process(pids), time.thread_time_ns()
                started = time.perf_counter()
                for _ in range(requests):
                    client.post_json("/v1/audio/speech", body)
                wall = time.perf_counter() - started
                after, client_after = cpu_ns_by_process(pids), time.thread_time_ns()
            names = {process.pid: label(process, server.pid) for process in processes}
        finally:
            server.terminate()
            server.wait(timeout=30)
    engine = espeak_engine()
    for _ in range(100):
        synthesis_seconds(engine)
    raw_started = time.thread_time_ns()
    for _ in range(requests // 4):
        synthesis_seconds(engine)
    raw = (time.thread_time_ns() - raw_started) / (requests // 4) / 1e3
    print(f"{requests} requests, one at a time; CPU per request in us")
    for pid in pids:
        spent = (after[pid] - before[pid]) / requests / 1e3
        if spent >= 1:
            print(f"  {names[pid]:34s} {spent:7.0f}")
    print(f"  {'client (this process)':34s} {(client_after - client_before) / requests / 1e3:7.0f}")
    print(f"  {'wall time per request':34s} {wall / requests * 1e6:7.0f}")
    print(f"  {'raw synthesis in this process':34s} {raw:7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    measure(parser.parse_args().requests)


if __name__ == "__main__":
    main()
