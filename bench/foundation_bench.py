"""Foundation benchmark: the built-in engine behind the whole HTTP stack, measured as ratios in one run.

Starts a real `tts-server` process (built-in engine, rate limits off) on a free loopback port and measures:
1. latency of a one-sentence POST /v1/audio/speech (wav) over the engine's raw synthesis of the same text;
2. time to first byte of a streamed 4,000-character input over that of a 100-character input;
3. throughput with 16 concurrent clients over 1 client, and /health p99 during the 16-client load;
4. resident memory (server + its worker processes) at idle, and its growth after 1,000 requests.

The load generator has to share the machine's two cores with the server, so it is kept cheap and out of
the way of what it measures: the latency client is a blocking socket on a keep-alive connection that reads
each response into one preallocated buffer (an asyncio client adds ~0.08 ms per request, httpx ~0.6 ms of
parsing per 190 KB response; the httpx latency is recorded too, as http_latency_httpx_client_ms); the
throughput clients are a few lines of asyncio on keep-alive connections; and /health is probed from a
separate process, so a probe's latency is the server's answer time and not the wait for the load
generator's own busy event loop.

Usage: .venv/bin/python bench/foundation_bench.py [--requests 1000] [--out bench/results/foundation.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
SHORT_TEXT = "Streaming should start quickly, whatever the length of the text that follows it."[:100]
_LONG_PASSAGE = " ".join(f"Sentence {n} of a long passage keeps the engine busy for a while." for n in range(1, 80))
LONG_TEXT = _LONG_PASSAGE[:4000]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TTS_PROVIDER": "espeak", "TTS_RATE_LIMIT_ENABLED": "false", "TTS_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "tts_server", "--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen(command, env=env)


def wait_healthy(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).json()["status"] == "healthy":
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise TimeoutError("server did not become healthy")


def tree_rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    members = [process, *process.children(recursive=True)]
    return sum(member.memory_info().rss for member in members) / 2**20


def espeak_engine() -> Any:
    """The engine as a worker process holds it, in this process (with the worker's malloc settings, so
    the raw side does not pay page faults that the server's workers no longer pay)."""
    from tts_server.engines.espeak.engine import create_engine
    from tts_server.runtime.runners.process_worker import keep_large_buffers_on_the_heap

    keep_large_buffers_on_the_heap()
    engine = create_engine()
    engine.load()
    return engine


def synthesis_seconds(engine: Any) -> float:
    """One synthesis of the one-sentence text by the engine alone, in this process."""
    from tts_server.engines.base import CancelToken, SynthesisRequest, VoiceSelection

    request = SynthesisRequest(text=SENTENCE, voice=VoiceSelection(voice_id="default", builtin="default"))
    start = time.perf_counter()
    for _chunk in engine.synthesize(request, CancelToken()):
        pass
    return time.perf_counter() - start


def raw_synthesis_seconds(runs: int) -> float:
    """Median time of the engine alone, in this process, for the one-sentence text (a tight loop)."""
    engine = espeak_engine()
    return statistics.median([synthesis_seconds(engine) for _ in range(runs)])


def interleaved_latency_and_raw(base: str, rounds: int, per_round: int) -> tuple[float, float]:
    """Medians of the one-sentence request (sent one at a time by the blocking client) and of the
    engine's raw synthesis, measured in alternating blocks: the speed of these shared machines drifts
    by 10-20 % within a minute, and both sides of the ratio must see the same machine."""
    body = json.dumps({"input": SENTENCE, "response_format": "wav"}).encode()
    engine = espeak_engine()
    latencies, raw = [], []
    with BlockingClient(base) as client:
        for _ in range(rounds):
            for _ in range(per_round):
                start = time.perf_counter()
                client.post_json("/v1/audio/speech", body)
                latencies.append(time.perf_counter() - start)
            raw.extend(synthesis_seconds(engine) for _ in range(per_round))
    return statistics.median(latencies), statistics.median(raw)


def http_latency_seconds(client: httpx.Client, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.post("/v1/audio/speech", json={"input": SENTENCE, "response_format": "wav"})
        response.raise_for_status()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ttfb_seconds(client: httpx.Client, text: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        body = {"input": text, "response_format": "wav", "stream": True}
        with client.stream("POST", "/v1/audio/speech", json=body) as response:
            first = True
            for _ in response.iter_raw():
                if first:
                    times.append(time.perf_counter() - start)
                    first = False
    return statistics.median(times)


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection that posts JSON and reads whole (Content-Length) responses."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader, self._writer, self._host = reader, writer, host

    @classmethod
    async def connect(cls, base: str) -> KeepAliveClient:
        url = urlsplit(base)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        return cls(reader, writer, f"{url.hostname}:{url.port}")

    async def post_json(self, path: str, body: bytes) -> bytes:
        """The response body; raises unless the status is 200."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line, _, header_block = (await self._reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        headers = dict(line.split(b":", 1) for line in header_block.strip().split(b"\r\n"))
        headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
        payload = await self._reader.readexactly(int(headers[b"content-length"]))
        if status_line.split()[1] != b"200":
            raise RuntimeError(f"{status_line.decode()}: {payload[:200]!r}")
        return payload

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


class BlockingClient:
    """One keep-alive HTTP/1.1 connection on a blocking socket; responses (Content-Length) are read into
    one preallocated buffer, so the client's own cost per request is two or three system calls."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self._host = f"{url.hostname}:{url.port}"
        self._sock = socket.create_connection((url.hostname, url.port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray(8 * 2**20)
        self._view = memoryview(self._buffer)

    def __enter__(self) -> BlockingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def post_json(self, path: str, body: bytes) -> memoryview:
        """The response body (valid until the next request); raises unless the status is 200."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._sock.sendall(head.encode() + body)
        received, end = 0, -1
        while end < 0:
            received += self._receive(received, len(self._buffer))
            end = self._buffer.find(b"\r\n\r\n", 0, received)
        status_line, *header_lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
        total = end + 4 + int(headers["content-length"])
        while received < total:
            received += self._receive(received, total)
        payload = self._view[end + 4 : total]
        if status_line.split()[1] != "200":
            raise RuntimeError(f"{status_line}: {bytes(payload[:200])!r}")
        return payload

    def _receive(self, start: int, stop: int) -> int:
        count = self._sock.recv_into(self._view[start:stop])
        if count == 0:
            raise ConnectionError("the server closed the connection")
        return count


def probe_health(base: str, go: Event, stop: Event, results: Connection) -> None:
    """A separate process: GET /health every 50 ms between `go` and `stop`; sends back the latencies."""
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=60) as client:
        client.get("/health").raise_for_status()  # connected and warm before the load starts
        go.wait()
        while not stop.is_set():
            start = time.perf_counter()
            client.get("/health").raise_for_status()
            latencies.append(time.perf_counter() - start)
            time.sleep(0.05)
    results.send(latencies)


async def closed_loop_rps(base: str, clients: int, seconds: float) -> float:
    """Requests per second with `clients` closed-loop clients, each on its own keep-alive connection."""
    body = json.dumps({"input": SENTENCE, "response_format": "wav"}).encode()
    connections = [await KeepAliveClient.connect(base) for _ in range(clients)]
    completed = 0

    async def speaker(client: KeepAliveClient) -> None:
        nonlocal completed
        while time.perf_counter() < stop_at:
            await client.post_json("/v1/audio/speech", body)
            completed += 1

    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(speaker(client) for client in connections))
    elapsed = time.perf_counter() - started
    for client in connections:
        await client.close()
    return completed / elapsed


def throughput(base: str, clients: int, seconds: float) -> tuple[float, list[float]]:
    """Requests per second with `clients` closed-loop clients, and /health latencies meanwhile."""
    context = multiprocessing.get_context("spawn")
    go, stop = context.Event(), context.Event()
    receiver, sender = context.Pipe(duplex=False)
    prober = context.Process(target=probe_health, args=(base, go, stop, sender), daemon=True)
    prober.start()
    time.sleep(1)  # the prober's interpreter starts up before the load does, not during it
    go.set()
    try:
        rps = asyncio.run(closed_loop_rps(base, clients, seconds))
    finally:
        stop.set()
    health: list[float] = receiver.recv()
    prober.join(timeout=30)
    return rps, health


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(base: str, pid: int, requests: int) -> dict[str, Any]:
    with httpx.Client(base_url=base, timeout=60) as client:
        http_latency_seconds(client, 10)  # warm every worker
        latency_httpx = http_latency_seconds(client, 50)
        latency, raw = interleaved_latency_and_raw(base, rounds=20, per_round=15)
        raw_tight_loop = raw_synthesis_seconds(100)
        ttfb_short = ttfb_seconds(client, SHORT_TEXT, 20)
        ttfb_long = ttfb_seconds(client, LONG_TEXT, 20)
        time.sleep(1)
        rss_idle = tree_rss_mb(pid)
        for _ in range(requests):
            client.post("/v1/audio/speech", json={"input": SENTENCE, "response_format": "mp3"}).raise_for_status()
        time.sleep(1)
        rss_after = tree_rss_mb(pid)
    one_rps, _ = throughput(base, 1, 8)
    many_rps, health = throughput(base, 16, 8)
    return {
        "raw_synthesis_ms": raw * 1000,
        "raw_synthesis_tight_loop_ms": raw_tight_loop * 1000,
        "http_latency_ms": latency * 1000,
        "latency_ratio": latency / raw,
        "http_latency_httpx_client_ms": latency_httpx * 1000,
        "ttfb_100_chars_ms": ttfb_short * 1000,
        "ttfb_4000_chars_ms": ttfb_long * 1000,
        "ttfb_ratio": ttfb_long / ttfb_short,
        "rps_1_client": one_rps,
        "rps_16_clients": many_rps,
        "throughput_ratio": many_rps / one_rps,
        "health_p99_ms_under_load": p99(health) * 1000,
        "rss_idle_mb": rss_idle,
        "rss_after_requests_mb": rss_after,
        "rss_growth_mb": rss_after - rss_idle,
        "requests_for_memory": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("bench/results/foundation.json"))
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir), port)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_healthy(base)
            results = measure(base, server.pid, args.requests)
        finally:
            server.terminate()
            server.wait(timeout=30)
    results["cpu_count"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
