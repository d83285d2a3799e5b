"""A/B latency of one-sentence POST /v1/audio/speech (wav): this working tree against a git revision.

These machines drift by 10-20 % within a minute, so two runs of foundation_bench.py cannot tell a
0.1 ms change from noise. This script starts one server from each source tree and alternates single
requests between them (the order flips every round), so both see the same machine; it reports each
side's median latency and its server process's CPU time per request. Two servers of the same tree
come out within a few microseconds of each other.

Usage: .venv/bin/python bench/ab_latency.py --base HEAD~1 [--requests 2000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from foundation_bench import SENTENCE, BlockingClient, free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent


def start(source: Path, data_dir: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(source / "src"),  # ahead of the editable install
        "TTS_PROVIDER": "espeak",
        "TTS_RATE_LIMIT_ENABLED": "false",
        "TTS_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "tts_server", "--port", str(port), "--data-dir", data_dir]
    return subprocess.Popen(command, env=env, cwd=data_dir)


def alternate(bases: list[str], requests: int) -> list[list[float]]:
    body = f'{{"input": "{SENTENCE}", "response_format": "wav"}}'.encode()
    clients = [BlockingClient(base) for base in bases]
    times: list[list[float]] = [[] for _ in bases]
    for index in range(requests):
        order = range(len(clients)) if index % 2 else reversed(range(len(clients)))
        for side in order:
            start_time = time.perf_counter()
            clients[side].post_json("/v1/audio/speech", body)
            times[side].append(time.perf_counter() - start_time)
    for client in clients:
        client.__exit__()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="HEAD", help="git revision to compare the working tree with")
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        base_tree = Path(scratch) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base], check=True)
        sides = {f"base ({args.base})": base_tree, "working tree": ROOT}
        data_dirs = [tempfile.mkdtemp(dir=scratch) for _ in sides]
        ports = [free_port() for _ in sides]
        servers = [start(tree, d, port) for tree, d, port in zip(sides.values(), data_dirs, ports, strict=True)]
        try:
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base in bases:
                wait_healthy(base)
            alternate(bases, 200)  # warm-up
            processes = [psutil.Process(server.pid) for server in servers]
            before = [process.cpu_times() for process in processes]
            times = alternate(bases, args.requests)
            after = [process.cpu_times() for process in processes]
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    for name, samples, cpu_before, cpu_after in zip(sides, times, before, after, strict=True):
        cpu = (cpu_after.user - cpu_before.user + cpu_after.system - cpu_before.system) / args.requests
        print(f"{name:24s} median {statistics.median(samples) * 1e3:.3f} ms   server CPU {cpu * 1e6:.0f} us/request")


if __name__ == "__main__":
    main()
