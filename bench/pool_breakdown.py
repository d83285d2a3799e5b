"""Where the process pool's share of a request goes: a stamped timeline of one-sentence syntheses
through ProcessPoolRunner alone (no HTTP), in the parent and in the worker.

Stamps are time.perf_counter() (CLOCK_MONOTONIC, comparable across processes on Linux), taken by wrapping
the pool's own functions, so this is a diagnostic tied to their names. Prints the median of each step and
the pool's total overhead over the synthesis itself.

Usage: .venv/bin/python bench/pool_breakdown.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing.util
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from foundation_bench import SENTENCE
from latency_breakdown import per_request

STAMPS = Path(tempfile.gettempdir()) / "tts-pool-breakdown"
STEPS = [
    "start",
    "parent_send_SYNTH",
    "parent_sent_SYNTH",
    "worker_recv_SYNTH",
    "worker_run",
    "synthesis_start",
    "synthesis_chunk",
    "worker_send_CHUNK",
    "worker_sent_CHUNK",
    "parent_message_CHUNK",
    "parent_message_DONE",
    "consumed",
    "end",
]


def create_engine() -> Any:
    """The worker's engine factory: espeak, with the worker's steps stamped."""
    from tts_server.engines.espeak.engine import create_engine as create_espeak
    from tts_server.runtime.runners import process_worker

    events: list[tuple[str, float]] = []
    channel, run = process_worker.Channel, process_worker._run
    recv, send = channel.recv, channel.send

    def stamped_recv(self: Any) -> Any:
        frame = recv(self)
        events.append((f"worker_recv_{frame.kind.name}", time.perf_counter()))
        return frame

    def stamped_send(self: Any, kind: Any, *args: Any, **kwargs: Any) -> None:
        events.append((f"worker_send_{kind.name}", time.perf_counter()))
        send(self, kind, *args, **kwargs)
        events.append((f"worker_sent_{kind.name}", time.perf_counter()))

    def stamped_run(*args: Any) -> bool:
        events.append(("worker_run", time.perf_counter()))
        return run(*args)

    channel.recv, channel.send, process_worker._run = stamped_recv, stamped_send, stamped_run  # type: ignore[method-assign]
    engine = create_espeak()
    synthesize = engine.synthesize

    def stamped_synthesize(request: Any, cancel: Any) -> Iterator[Any]:
        events.append(("synthesis_start", time.perf_counter()))
        for chunk in synthesize(request, cancel):
            events.append(("synthesis_chunk", time.perf_counter()))
            yield chunk

    engine.synthesize = stamped_synthesize  # type: ignore[method-assign]

    def dump() -> None:
        (STAMPS / f"worker-{os.getpid()}.json").write_text(json.dumps(events))

    # Written as the worker exits (the runner stops it at the end), not while it is measured.
    multiprocessing.util.Finalize(None, dump, exitpriority=10)
    return engine


async def measure(requests: int) -> list[dict[str, float]]:
    from tts_server.engines.base import SynthesisRequest, VoiceSelection
    from tts_server.runtime.runners.process_pool import ProcessPoolRunner

    events: list[tuple[str, float]] = []
    pool = ProcessPoolRunner
    send, on_message = pool._send, pool._on_message

    def stamped_send(worker: Any, kind: Any, number: int = 0, payload: bytes = b"") -> None:
        events.append((f"parent_send_{kind.name}", time.perf_counter()))
        send(worker, kind, number, payload)
        events.append((f"parent_sent_{kind.name}", time.perf_counter()))

    def stamped_on_message(self: Any, worker: Any, message: Any) -> None:
        events.append((f"parent_message_{message.kind.name}", time.perf_counter()))
        on_message(self, worker, message)

    pool._send, pool._on_message = staticmethod(stamped_send), stamped_on_message  # type: ignore[method-assign, assignment]
    runner = ProcessPoolRunner("pool_breakdown:create_engine", workers=2, max_queue=8)
    await runner.start()
    while runner.state.value != "ready":
        await asyncio.sleep(0.05)
    request = SynthesisRequest(text=SENTENCE, voice=VoiceSelection(voice_id="default", builtin="default"))
    for _ in range(requests):
        events.append(("start", time.perf_counter()))
        async for _chunk in runner.synthesize(request):
            events.append(("consumed", time.perf_counter()))
        events.append(("end", time.perf_counter()))
        await asyncio.sleep(0.001)  # an idle gap, as between HTTP requests
    await runner.stop()
    workers = [event for path in STAMPS.glob("worker-*.json") for event in json.loads(path.read_text())]
    merged = sorted([*events, *(tuple(event) for event in workers)], key=lambda event: event[1])
    return list(per_request(merged, "start"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    STAMPS.mkdir(exist_ok=True)
    for path in STAMPS.glob("*.json"):
        path.unlink()
    rows = [row for row in asyncio.run(measure(args.requests))[50:] if all(step in row for step in STEPS)]
    print(f"{len(rows)} syntheses; medians in us (each step from the previous one)")
    for previous, step in itertools.pairwise(STEPS):
        print(f"  {step:22s} {statistics.median(row[step] - row[previous] for row in rows) * 1e6:8.1f}")
    total = statistics.median(row["end"] - row["start"] for row in rows)
    synthesis = statistics.median(row["synthesis_chunk"] - row["synthesis_start"] for row in rows)
    print(f"  total {total * 1e6:.0f}, synthesis {synthesis * 1e6:.0f}, pool overhead {(total - synthesis) * 1e6:.0f}")


if __name__ == "__main__":
    main()
