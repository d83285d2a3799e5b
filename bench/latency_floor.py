"""How close can any server on this stack get? The one-sentence latency ratio of tts-server against floors.

The latency target (one-sentence /v1/audio/speech over the engine's raw synthesis, <= 1.2) leaves ~0.7 ms
for everything but espeak. This script measures, alternated request by request so all see the same
machine, the same request answered by:

- `thread`: a bare ASGI app on uvicorn (no framework, no middleware, no validation) that has the engine
  speak on a thread of its process and answers a WAV: the least a server that keeps its event loop free
  can do;
- `inline`: the same app speaking on the event loop itself (a server that blocks while it speaks);
- `tts-server`: the real server, as foundation_bench.py starts it (extra servers can be given by env
  settings, e.g. `--variant no-thread=TTS_SERVER_THREAD_MAX_CHARS=0`);

and the engine's raw synthesis in this process. The gap between `thread` and tts-server is what the
framework, our app and the worker processes cost; the gap between raw and `thread` is the floor that no
code of ours can remove.

Usage: .venv/bin/python bench/latency_floor.py [--rounds 60] [--variant NAME=ENV=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from foundation_bench import (
    SENTENCE,
    BlockingClient,
    espeak_engine,
    free_port,
    synthesis_seconds,
    wait_healthy,
)

BENCH = Path(__file__).resolve().parent
PER_ROUND = 10  # requests to each server, then as many raw syntheses, per round


def start_floor(mode: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FLOOR_MODE": mode, "PYTHONPATH": str(BENCH)}
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(command, env=env)


def start_server(data_dir: str, port: int, extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TTS_PROVIDER": "espeak",
        "TTS_RATE_LIMIT_ENABLED": "false",
        "TTS_LOG_LEVEL": "warning",
        **extra_env,
    }
    command = [sys.executable, "-m", "tts_server", "--port", str(port), "--data-dir", data_dir]
    return subprocess.Popen(command, env=env, cwd=data_dir)


def parse_variants(specs: list[str]) -> dict[str, dict[str, str]]:
    variants: dict[str, dict[str, str]] = {"tts-server": {}}
    for spec in specs:
        name, _, assignment = spec.partition("=")
        key, _, value = assignment.partition("=")
        variants[name] = {key: value}
    return variants


def alternate(bases: dict[str, str], rounds: int) -> tuple[dict[str, float], float]:
    body = json.dumps({"input": SENTENCE, "response_format": "wav"}).encode()
    engine = espeak_engine()
    clients = {name: BlockingClient(base) for name, base in bases.items()}
    times: dict[str, list[float]] = {name: [] for name in bases}
    raw: list[float] = []
    try:
        for index in range(rounds):
            order = list(clients.items()) if index % 2 else list(reversed(clients.items()))
            for name, client in order:
                for _ in range(PER_ROUND):
                    start = time.perf_counter()
                    client.post_json("/v1/audio/speech", body)
                    times[name].append(time.perf_counter() - start)
            raw.extend(synthesis_seconds(engine) for _ in range(PER_ROUND))
    finally:
        for client in clients.values():
            client.__exit__()
    return {name: statistics.median(values) for name, values in times.items()}, statistics.median(raw)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--variant", action="append", default=[], help="NAME=TTS_SETTING=VALUE: one more server")
    args = parser.parse_args()
    servers: dict[str, subprocess.Popen[bytes]] = {}
    bases: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for mode in ("thread", "inline"):
                port = free_port()
                servers[mode], bases[mode] = start_floor(mode, port), f"http://127.0.0.1:{port}"
            for name, extra_env in parse_variants(args.variant).items():
                port = free_port()
                servers[name] = start_server(tempfile.mkdtemp(dir=scratch), port, extra_env)
                bases[name] = f"http://127.0.0.1:{port}"
            for base in bases.values():
                wait_healthy(base)
            alternate(bases, 5)  # warm-up
            medians, raw = alternate(bases, args.rounds)
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(timeout=30)
    print(f"{'raw synthesis':<24} {raw * 1000:7.3f} ms")
    for name, median in medians.items():
        print(
            f"{name:<24} {median * 1000:7.3f} ms   ratio {median / raw:.3f}   over raw {1000 * (median - raw):.3f} ms"
        )


if __name__ == "__main__":
    main()
