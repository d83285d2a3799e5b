"""Process-pool overhead: the built-in engine raw vs through ProcessPoolRunner, and the cost per chunk.

1. One sentence: median of --runs raw `EspeakEngine.synthesize` calls in this process, against the
   median round trip of the same request through a started ProcessPoolRunner (2 workers), in
   alternating phases (pool, raw, pool, raw, ...). Not interleaved call by call: on a busy machine the
   scheduler then charges the raw calls' CPU time to the next pool round trip as wake-up delay.
2. Per-chunk IPC: a no-op engine in the workers yields N chunks of a given size; the cost per chunk is
   (round trip with N chunks - round trip with none) / N, so it excludes any synthesis.

Run: .venv/bin/python bench/process_pool_bench.py [--runs 50]   (results recorded in bench/process_pool.md)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Iterator, Sequence

import numpy as np

from tts_server.engines.base import AudioChunk, CancelToken, SynthesisRequest, VoiceInfo, VoiceSelection
from tts_server.engines.espeak.engine import ESPEAK_INFO, EspeakEngine
from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.runners.process_pool import ESPEAK_FACTORY, ProcessPoolRunner

SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
VOICE = VoiceSelection(voice_id="default", builtin="default")


class NoOpEngine:
    """Yields `text` = "<chunks> <samples>" zero-filled chunks at once: pure IPC, no synthesis."""

    info = ESPEAK_INFO

    def load(self) -> None:
        pass

    def voices(self) -> Sequence[VoiceInfo]:
        return []

    def has_voice(self, name: str) -> bool:
        return True

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        chunks, samples = (int(field) for field in request.text.split())
        block = np.zeros(samples, dtype=np.float32)
        for _ in range(chunks):
            yield AudioChunk(block, 22_050)


def create_noop_engine() -> NoOpEngine:
    return NoOpEngine()


def raw_seconds(engine: EspeakEngine, request: SynthesisRequest) -> float:
    start = time.perf_counter()
    for _chunk in engine.synthesize(request, CancelToken()):
        pass
    return time.perf_counter() - start


async def started(factory: str) -> ProcessPoolRunner:
    runner = ProcessPoolRunner(factory, workers=2, max_queue=8)
    await runner.start()
    while runner.state is RunnerState.LOADING:
        await asyncio.sleep(0.01)
    assert runner.state is RunnerState.READY, runner.state_detail
    return runner


async def pooled_seconds(runner: ProcessPoolRunner, request: SynthesisRequest) -> float:
    start = time.perf_counter()
    async for _chunk in runner.synthesize(request):
        pass
    return time.perf_counter() - start


async def pooled_median(runner: ProcessPoolRunner, text: str, runs: int) -> float:
    request = SynthesisRequest(text=text, voice=VOICE)
    times = [await pooled_seconds(runner, request) for _ in range(runs + 5)]
    return statistics.median(times[5:])


async def one_sentence(runs: int, rounds: int = 3) -> None:
    engine = EspeakEngine()
    engine.load()
    request = SynthesisRequest(text=SENTENCE, voice=VOICE)
    runner = await started(ESPEAK_FACTORY)
    try:
        for _ in range(rounds):
            pooled = statistics.median([await pooled_seconds(runner, request) for _ in range(runs + 5)][5:])
            raw = statistics.median([raw_seconds(engine, request) for _ in range(runs + 5)][5:])
            ratio = pooled / raw
            print(f"one sentence: raw {raw * 1e3:.2f} ms, through the pool {pooled * 1e3:.2f} ms, ratio {ratio:.2f}")
    finally:
        await runner.stop()


async def main(runs: int) -> None:
    await one_sentence(runs)

    noop = await started("process_pool_bench:create_noop_engine")
    try:
        empty = await pooled_median(noop, "0 0", runs)
        print(f"empty request round trip (SYNTH -> DONE): {empty * 1e6:.0f} us")
        for seconds in (0.1, 1.0, 10.0):
            samples, chunks = round(22_050 * seconds), 20
            total = await pooled_median(noop, f"{chunks} {samples}", runs)
            per_chunk = (total - empty) / chunks
            print(f"chunk of {seconds:g} s ({samples * 4 / 1024:.0f} KiB): {per_chunk * 1e6:.0f} us per chunk")
    finally:
        await noop.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main(parser.parse_args().runs))
