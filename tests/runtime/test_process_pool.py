"""The process-pool runner with real worker processes: loading, streaming, admission, cancel, crashes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import cast

import numpy as np
import psutil
import pytest
import pytest_asyncio

from tts_server.engines.base import AudioChunk, SynthesisRequest, VoiceSelection
from tts_server.errors import GenerationFailed, InvalidRequest, ModelNotLoaded, QueueFull
from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.runners.process_pool import ESPEAK_FACTORY, ProcessPoolRunner

SLOW_FACTORY = "tests.runtime.slow_engine:create_slow_engine"
SENTENCE = "This sentence is long enough to be spoken on its own."


def request(
    text: str = SENTENCE, *, seconds_per_sentence: float = 0.0, endless: bool = False, language: str | None = None
) -> SynthesisRequest:
    """A request for the slow engine (tests/runtime/slow_engine.py), which reads its pace from `instructions`."""
    voice = VoiceSelection(voice_id="default", builtin="default", language=language)
    pace = f"{seconds_per_sentence} endless" if endless else str(seconds_per_sentence)
    return SynthesisRequest(text=text, voice=voice, instructions=pace)


async def started(factory: str = SLOW_FACTORY, *, max_queue: int = 8) -> ProcessPoolRunner:
    runner = ProcessPoolRunner(factory, workers=2, max_queue=max_queue)
    await runner.start()
    await wait_for(lambda: runner.state is not RunnerState.LOADING, timeout=30)
    return runner


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


# One event loop for the module, so tests can share a runner: starting worker processes is the slow part.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner() -> AsyncIterator[ProcessPoolRunner]:
    """Two workers of the slowed-down real engine, shared; each test leaves it idle."""
    runner = await started()
    yield runner
    await runner.stop()


def worker_pids() -> set[int]:
    """Live worker processes of this test process (a killed one is a zombie until it is reaped)."""
    pids = set()
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(child.cmdline()):
                pids.add(child.pid)
    return pids


async def collect(chunks: AsyncIterator[AudioChunk]) -> list[AudioChunk]:
    return [chunk async for chunk in chunks]


async def test_start_returns_at_once_and_loads_in_the_background() -> None:
    runner = ProcessPoolRunner(ESPEAK_FACTORY, workers=2, max_queue=4)
    assert runner.state is RunnerState.LOADING
    with pytest.raises(ModelNotLoaded):
        runner.synthesize(request())
    await runner.start()
    assert runner.state is RunnerState.LOADING  # start() returned while the workers still load
    try:
        await wait_for(lambda: runner.state is RunnerState.READY, timeout=30)
        assert runner.state_detail is None
        assert runner.load().workers == 2 and runner.load().capacity == 6
        chunks = await collect(runner.synthesize(request("Hello there, nice to meet you. " + SENTENCE)))
        assert [chunk.sample_rate for chunk in chunks] == [22_050, 22_050]
        assert all(chunk.samples.dtype == np.int16 and chunk.samples.flags.writeable for chunk in chunks)
        assert sum(chunk.duration for chunk in chunks) > 2.0
    finally:
        await runner.stop()
    assert runner.load().active == 0
    assert runner.state_detail == "the engine was stopped"


async def test_voices_are_answered_without_workers() -> None:
    runner = ProcessPoolRunner(ESPEAK_FACTORY, workers=2, max_queue=4)  # not started
    assert runner.info.id == "espeak"
    assert runner.has_voice("alloy") and runner.has_voice("de") and not runner.has_voice("nope")
    assert [voice.voice_id for voice in runner.voices()][:2] == ["default", "aria"]


async def test_a_load_failure_is_reported() -> None:
    runner = await started("tests.runtime.slow_engine:create_unloadable_engine")
    try:
        assert runner.state is RunnerState.FAILED
        assert "no weights here" in (runner.state_detail or "")
        with pytest.raises(ModelNotLoaded, match="no weights here"):
            runner.synthesize(request())
    finally:
        await runner.stop()


async def test_chunks_stream_in_order_as_they_are_made(runner: ProcessPoolRunner) -> None:
    sentences = [
        "One short sentence here.",
        SENTENCE,
        "This third sentence is a good deal longer than both of the sentences that came before it.",
    ]
    # Endless (the last sentence repeats until cancelled): chunks that arrive must have been streamed.
    stream = runner.synthesize(request(" ".join(sentences), seconds_per_sentence=0.02, endless=True))
    durations = [(await anext(stream)).duration for _ in range(4)]
    assert runner.load().active == 1
    await cast(AsyncGenerator[AudioChunk, None], stream).aclose()
    assert durations[:3] == sorted(durations[:3])  # the sentences' own order, shortest first
    assert durations[3] == durations[2]
    await wait_for(lambda: runner.load().active == 0, timeout=30)


async def test_two_workers_run_two_requests_at_once(runner: ProcessPoolRunner) -> None:
    events: list[str] = []

    async def run(name: str) -> None:
        text = "This is the first of two sentences. And here is the second one of them."
        async for _ in runner.synthesize(request(text, seconds_per_sentence=0.2)):
            events.append(f"{name} chunk")
        events.append(f"{name} done")

    await asyncio.gather(run("a"), run("b"))
    # Both had audio before either finished: they ran side by side, not one after the other.
    assert events.index("a chunk") < events.index("b done") and events.index("b chunk") < events.index("a done")


def hold_worker(runner: ProcessPoolRunner) -> asyncio.Task[list[AudioChunk]]:
    """A request that keeps a worker busy until its task is cancelled."""
    return asyncio.create_task(collect(runner.synthesize(request(seconds_per_sentence=0.05, endless=True))))


async def release(*holders: asyncio.Task[list[AudioChunk]]) -> None:
    for holder in holders:
        holder.cancel()
    await asyncio.gather(*holders, return_exceptions=True)


async def test_the_most_recently_busy_worker_takes_the_next_request(runner: ProcessPoolRunner) -> None:
    """Its caches are warm: a short request is measurably faster there than on a worker that idled."""

    async def busy_slot() -> int:
        holder = hold_worker(runner)
        await wait_for(lambda: runner.load().active == 1)
        slot = next(worker.slot for worker in runner._workers if worker is not None and worker.job is not None)
        await release(holder)
        await wait_for(lambda: runner.load().active == 0, timeout=30)
        return slot

    first = await busy_slot()
    assert [await busy_slot() for _ in range(3)] == [first] * 3


def minor_page_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
async def test_a_sentence_of_audio_does_not_fault_in_fresh_pages(runner: ProcessPoolRunner) -> None:
    """glibc's default would mmap each ~200 KB sentence buffer anew: ~50 page faults per sentence."""
    text = "The quick brown fox jumps over the lazy dog near the quiet river bank, twice as slowly as before."
    for _ in range(3):
        await collect(runner.synthesize(request(text)))
    before = {pid: minor_page_faults(pid) for pid in worker_pids()}
    for _ in range(20):
        await collect(runner.synthesize(request(text)))
    faults = sum(minor_page_faults(pid) - count for pid, count in before.items())
    assert faults / 20 < 5


async def test_waiting_requests_are_served_first_come_first_served(runner: ProcessPoolRunner) -> None:
    finished: list[int] = []

    async def run(number: int) -> None:
        await collect(runner.synthesize(request(seconds_per_sentence=0.05)))
        finished.append(number)

    holders = [hold_worker(runner), hold_worker(runner)]
    await wait_for(lambda: runner.load().active == 2)
    queued = [asyncio.create_task(run(n)) for n in (1, 2, 3)]
    await wait_for(lambda: runner.load().waiting == 3)
    await release(holders[0])  # one worker comes free and takes the queue in arrival order
    await asyncio.gather(*queued)
    await release(holders[1])
    assert finished == [1, 2, 3]


async def test_over_capacity_is_refused_with_retry_after() -> None:
    runner = await started(max_queue=1)
    try:
        holders = [hold_worker(runner) for _ in range(3)]
        await wait_for(lambda: runner.load().active == 2 and runner.load().waiting == 1)
        with pytest.raises(QueueFull) as refused:
            runner.synthesize(request())
        assert int(refused.value.headers["Retry-After"]) >= 1
        await release(*holders)
        await wait_for(lambda: runner.load().active == runner.load().waiting == 0, timeout=30)
        assert len(await collect(runner.synthesize(request()))) == 1  # room again
    finally:
        await runner.stop()


async def test_closing_the_stream_cancels_the_work_and_frees_the_worker(runner: ProcessPoolRunner) -> None:
    # Endless: the worker can only become free again because the cancel reached it.
    stream = cast(AsyncGenerator[AudioChunk, None], runner.synthesize(request(seconds_per_sentence=0.1, endless=True)))
    await anext(stream)
    await stream.aclose()
    await wait_for(lambda: runner.load().active == 0, timeout=30)
    # The freed worker serves the next request with its own audio, not leftovers of the cancelled one.
    for _ in range(2):
        chunks = await collect(runner.synthesize(request("Hello there, how are you?")))
        assert len(chunks) == 1 and chunks[0].duration < 2.5


async def test_a_cancelled_consumer_task_frees_the_worker(runner: ProcessPoolRunner) -> None:
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in runner.synthesize(request(seconds_per_sentence=0.1, endless=True)):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: runner.load().active == 0, timeout=30)


async def test_a_queued_request_that_is_abandoned_leaves_the_queue(runner: ProcessPoolRunner) -> None:
    holders = [hold_worker(runner), hold_worker(runner)]
    await wait_for(lambda: runner.load().active == 2)
    waiting = asyncio.create_task(collect(runner.synthesize(request())))
    await wait_for(lambda: runner.load().waiting == 1)
    await release(waiting)
    assert runner.load().waiting == 0 and runner.load().active == 2
    await release(*holders)
    await wait_for(lambda: runner.load().active == 0, timeout=30)


async def test_engine_errors_reach_the_caller_typed(runner: ProcessPoolRunner) -> None:
    with pytest.raises(InvalidRequest) as error:
        await collect(runner.synthesize(request(language="xx")))
    assert error.value.param == "language"
    assert len(await collect(runner.synthesize(request()))) == 1  # the worker carries on


async def test_a_killed_worker_fails_its_request_and_is_replaced(runner: ProcessPoolRunner) -> None:
    pids = worker_pids()
    assert len(pids) == 2
    stream = runner.synthesize(request(seconds_per_sentence=0.1, endless=True))
    await anext(stream)
    for pid in pids:  # the busy one is whichever holds the request; kill both to be sure of it
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(GenerationFailed, match="crashed"):
        await collect(stream)
    await wait_for(lambda: len(worker_pids() - pids) == 2 and runner.load().active == 0, timeout=30)
    assert runner.state is RunnerState.READY
    results = await asyncio.gather(*(collect(runner.synthesize(request())) for _ in range(2)))
    assert all(len(chunks) == 1 for chunks in results)


async def test_stop_leaves_no_worker_running() -> None:
    others = worker_pids()  # the shared runner's
    runner = await started()
    pids = worker_pids() - others
    assert len(pids) == 2
    running = hold_worker(runner)
    await wait_for(lambda: runner.load().active == 1)
    await runner.stop()
    with pytest.raises(ModelNotLoaded):
        await running
    assert not any(psutil.pid_exists(pid) for pid in pids)  # exited and reaped
    assert worker_pids() == others
    with pytest.raises(ModelNotLoaded):
        runner.synthesize(request())
