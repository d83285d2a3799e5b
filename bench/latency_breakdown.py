"""Where the time of one speech request goes: a per-stage timeline of POST /v1/audio/speech (wav).

Starts an instrumented `tts-server` (built-in engine, 2 workers) in a subprocess, sends one-sentence
requests one at a time over a keep-alive connection, and prints the median of each stage. Stamps are
time.perf_counter() (CLOCK_MONOTONIC, comparable across processes on Linux), taken by wrapping the
server's own functions, so this is a diagnostic tied to their names; the numbers to quote come from
foundation_bench.py.

Stages: client -> app (uvicorn), app -> speech service (middleware, routing, body, dependencies),
service -> dispatch (validation, voice), dispatch -> worker (wake-up, unpickle), synthesis in the
worker, worker -> event loop (the audio crossing), chunk -> response body (encoding, response), and
the body's trip back to the client.

Usage: .venv/bin/python bench/latency_breakdown.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from foundation_bench import SENTENCE, KeepAliveClient, free_port, raw_synthesis_seconds, wait_healthy

STAMPS = Path(tempfile.gettempdir()) / "tts-latency-breakdown"


# --- the instrumented server (runs in the subprocess and, for the worker stamps, in its workers) -----


def _stamp(events: list[tuple[str, float]], name: str) -> None:
    events.append((name, time.perf_counter()))


def _dump(events: list[tuple[str, float]], role: str) -> None:
    (STAMPS / f"{role}-{os.getpid()}.json").write_text(json.dumps(events))


def create_engine() -> Any:
    """The worker's engine factory: espeak, with the worker's stages stamped."""
    from tts_server.engines.espeak.engine import create_engine as create_espeak
    from tts_server.runtime.runners import process_worker

    events: list[tuple[str, float]] = []
    run, send_chunk = process_worker._run, process_worker.Channel.send_chunk

    def stamped_run(engine: Any, channel: Any, number: int, request: Any) -> bool:
        _stamp(events, "worker_received")
        return run(engine, channel, number, request)

    def stamped_send_chunk(channel: Any, number: int, chunk: Any) -> None:
        _stamp(events, "synthesised")
        send_chunk(channel, number, chunk)

    process_worker._run = stamped_run
    process_worker.Channel.send_chunk = stamped_send_chunk  # type: ignore[method-assign]
    # Written as the worker exits (the server stops its workers on shutdown), not during the requests.
    multiprocessing.util.Finalize(None, _dump, args=(events, "worker"), exitpriority=10)
    return create_espeak()


def serve(port: int, data_dir: str) -> None:
    import uvicorn

    from tts_server.app import create_app
    from tts_server.runtime import speech
    from tts_server.runtime.runners import process_pool
    from tts_server.settings import Settings

    events: list[tuple[str, float]] = []
    pool, service = process_pool.ProcessPoolRunner, speech.SpeechService
    pool.for_espeak = classmethod(  # type: ignore[method-assign, assignment]
        lambda cls, settings: cls("latency_breakdown:create_engine", workers=2, max_queue=settings.max_queue)
    )
    dispatch, on_message, open_stream = pool._dispatch, pool._on_message, service.open_stream

    def stamped_dispatch(self: Any) -> None:
        if self._waiting and self._idle:
            _stamp(events, "dispatched")
        dispatch(self)

    def stamped_on_message(self: Any, worker: Any, message: Any) -> None:
        _stamp(events, f"message_{message.kind.name.lower()}")
        on_message(self, worker, message)

    async def stamped_open_stream(self: Any, options: Any) -> Any:
        _stamp(events, "service")
        return await open_stream(self, options)

    pool._dispatch, pool._on_message = stamped_dispatch, stamped_on_message  # type: ignore[method-assign]
    service.open_stream = stamped_open_stream  # type: ignore[method-assign]
    app = create_app(Settings(port=port, data_dir=data_dir, provider="espeak", rate_limit_enabled=False))

    async def stamped_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/audio/speech":
            await app(scope, receive, send)
            return
        _stamp(events, "app")

        async def stamped_send(message: Any) -> None:
            if message["type"] == "http.response.body":
                _stamp(events, "body")
            await send(message)

        await app(scope, receive, stamped_send)
        if scope.get("query_string") == b"last":
            _dump(events, "server")

    uvicorn.run(stamped_app, host="127.0.0.1", port=port, log_level="warning")


# --- the driver ---------------------------------------------------------------------------------------


async def client_times(base: str, requests: int) -> list[tuple[float, float]]:
    body = json.dumps({"input": SENTENCE, "response_format": "wav"}).encode()
    client = await KeepAliveClient.connect(base)
    times = []
    for index in range(requests):
        path = "/v1/audio/speech?last" if index == requests - 1 else "/v1/audio/speech"
        started = time.perf_counter()
        await client.post_json(path, body)
        times.append((started, time.perf_counter()))
    await client.close()
    return times


def per_request(events: list[tuple[str, float]], first: str) -> Iterator[dict[str, float]]:
    """Events grouped into requests, each starting at `first`; a name's first stamp per request."""
    current: dict[str, float] | None = None
    for name, stamp in events:
        if name == first:
            if current is not None:
                yield current
            current = {}
        if current is not None:
            current.setdefault(name, stamp)
    if current is not None:
        yield current


def load_events(role: str) -> list[tuple[str, float]]:
    return sorted(
        (tuple(event) for path in STAMPS.glob(f"{role}-*.json") for event in json.loads(path.read_text())),
        key=lambda event: event[1],
    )


def stages(client: tuple[float, float], server: dict[str, float], worker: dict[str, float]) -> dict[str, float]:
    sent, received = client
    return {
        "client -> app": server["app"] - sent,
        "app -> speech service": server["service"] - server["app"],
        "service -> dispatch": server["dispatched"] - server["service"],
        "dispatch -> worker": worker["worker_received"] - server["dispatched"],
        "synthesis in the worker": worker["synthesised"] - worker["worker_received"],
        "worker -> event loop": server["message_chunk"] - worker["synthesised"],
        "chunk -> response body": server["body"] - server["message_chunk"],
        "body -> client": received - server["body"],
        "total": received - sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    STAMPS.mkdir(exist_ok=True)
    for path in STAMPS.glob("*.json"):
        path.unlink()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), data_dir])
        try:
            wait_healthy(f"http://127.0.0.1:{port}")
            asyncio.run(client_times(f"http://127.0.0.1:{port}", 50))  # warm-up
            times = asyncio.run(client_times(f"http://127.0.0.1:{port}", args.requests))[-args.requests :]
            time.sleep(0.5)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report(times)


def report(times: list[tuple[float, float]]) -> None:
    servers = [r for r in per_request(load_events("server"), "app") if "message_chunk" in r]
    workers = list(per_request(load_events("worker"), "worker_received"))
    rows = []
    for client, server in zip(times, servers[-len(times) :], strict=False):
        worker = next((w for w in workers if server["dispatched"] <= w["worker_received"] <= server["body"]), None)
        if worker is not None and "synthesised" in worker:
            rows.append(stages(client, server, worker))
    raw = raw_synthesis_seconds(100)
    print(f"{len(rows)} requests; medians in ms")
    for stage in rows[0]:
        print(f"  {stage:26s} {statistics.median(row[stage] for row in rows) * 1e3:7.3f}")
    print(f"  {'raw synthesis (in-process)':26s} {raw * 1e3:7.3f}")


if __name__ == "__main__":
    main()
