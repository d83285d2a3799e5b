"""Wyoming against HTTP on one server: time to the first audio and to the end, for a sentence and a long text.

One tts-server process (built-in engine) serves both; requests alternate one by one (HTTP streamed pcm, then
Wyoming synthesize on a connection opened per request, as Home Assistant does), so both see the same machine.
Reported: medians in milliseconds and the Wyoming/HTTP ratio of each. Speed targets live here, not in tests.

Usage: .venv/bin/python bench/wyoming_latency.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from foundation_bench import LONG_TEXT, SENTENCE, free_port, wait_healthy
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize

Timing = tuple[float, float]  # seconds to the first audio, seconds to the end


def start_server(data_dir: Path, port: int, wyoming_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TTS_PROVIDER": "espeak", "TTS_RATE_LIMIT_ENABLED": "false", "TTS_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "tts_server", "--port", str(port), "--wyoming-port", str(wyoming_port)]
    return subprocess.Popen([*command, "--data-dir", str(data_dir)], env=env)


async def http_once(client: httpx.AsyncClient, text: str) -> Timing:
    started = time.perf_counter()
    first = None
    body = {"input": text, "response_format": "pcm", "stream": True}
    async with client.stream("POST", "/v1/audio/speech", json=body) as response:
        async for part in response.aiter_raw():
            if part and first is None:
                first = time.perf_counter() - started
    assert first is not None
    return first, time.perf_counter() - started


async def wyoming_once(port: int, text: str) -> Timing:
    started = time.perf_counter()
    first = None
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Synthesize(text=text).event())
        while (event := await client.read_event()) is not None:
            if event.type == "audio-chunk" and first is None:
                first = time.perf_counter() - started
            if event.type == "audio-stop":
                break
    assert first is not None
    return first, time.perf_counter() - started


async def measure(base: str, wyoming_port: int, rounds: int) -> dict[str, dict[str, list[Timing]]]:
    results: dict[str, dict[str, list[Timing]]] = {"sentence": {"http": [], "wyoming": []}, "long": {}}
    results["long"] = {"http": [], "wyoming": []}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        for _ in range(rounds):
            for name, text in (("sentence", SENTENCE), ("long", LONG_TEXT)):
                results[name]["http"].append(await http_once(client, text))
                results[name]["wyoming"].append(await wyoming_once(wyoming_port, text))
    return results


def report(results: dict[str, dict[str, list[Timing]]]) -> None:
    print(f"{'text':9} {'protocol':8} {'first audio ms':>15} {'total ms':>10}")
    for name, by_protocol in results.items():
        medians = {
            protocol: (statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings))
            for protocol, timings in by_protocol.items()
        }
        for protocol, (first, total) in medians.items():
            print(f"{name:9} {protocol:8} {first * 1000:15.2f} {total * 1000:10.2f}")
        ratio_first = medians["wyoming"][0] / medians["http"][0]
        ratio_total = medians["wyoming"][1] / medians["http"][1]
        print(f"{name:9} {'ratio':8} {ratio_first:15.2f} {ratio_total:10.2f}   (wyoming / http)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    port, wyoming_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir), port, wyoming_port)
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            asyncio.run(measure(f"http://127.0.0.1:{port}", wyoming_port, 3))  # warm-up
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", wyoming_port, args.rounds))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"load average at the end: {Path('/proc/loadavg').read_text().split()[:3]}")
    report(results)


if __name__ == "__main__":
    main()
