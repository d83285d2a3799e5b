"""The app's own CPU cost for one speech request, in process: the real app (middleware, routing,
validation, voice resolution, WAV assembly, response) called as ASGI, with the engine's synthesis
replaced by a finished clip of the bench sentence's size, so only the server's share is timed.

Usage: .venv/bin/python bench/app_overhead.py [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from foundation_bench import SENTENCE

from tts_server.app import create_app
from tts_server.engines.base import AudioChunk, SynthesisRequest
from tts_server.settings import Settings

CLIP = AudioChunk(np.zeros(95_000, dtype=np.int16), 22_050, progress=1.0)  # ~4.3 s, as espeak speaks SENTENCE


async def finished_clip(request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
    yield CLIP


def stub_synthesis(app: Any) -> None:
    runner = app.state.tts.engines.default
    runner.synthesize = lambda request: finished_clip(request)


async def one_request(app: Any, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/audio/speech",
        "raw_path": b"/v1/audio/speech",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 7860),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = 0

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(requests: int) -> list[float]:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=data_dir, provider="espeak", rate_limit_enabled=False, workers=1)
        app = create_app(settings)
        body = json.dumps({"input": SENTENCE, "response_format": "wav"}).encode()
        async with app.router.lifespan_context(app):
            while app.state.tts.engines.default.state.value != "ready":
                await asyncio.sleep(0.05)
            stub_synthesis(app)
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                status = await one_request(app, body)
                times.append(time.perf_counter() - start)
                assert status == 200, status
                await asyncio.sleep(0)  # let the loop run between requests, as a server's does (timers)
        return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    import uvloop

    times = uvloop.run(measure(args.requests))[500:]
    print(
        f"app in process, one speech request: median {statistics.median(times) * 1e6:.0f} us, "
        f"p10 {np.percentile(times, 10) * 1e6:.0f} us"
    )


if __name__ == "__main__":
    main()
