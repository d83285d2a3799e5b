"""The process pool's server thread: short inputs spoken in this process while it is free, the rest in workers.

The engine here (tests/runtime/slow_engine.py, WhoSpeaksEngine) stamps each chunk with the id of the
process that spoke it, so every test sees where its request ran.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import cast

import pytest
import pytest_asyncio

from tests.runtime.test_process_pool import SENTENCE, collect, release, request, wait_for, worker_pids
from tts_server.engines.base import AudioChunk
from tts_server.engines.espeak.native import SAMPLE_RATE
from tts_server.errors import GenerationFailed, InvalidRequest, ModelNotLoaded
from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.runners.process_pool import ProcessPoolRunner

WHO_SPEAKS = "tests.runtime.slow_engine:create_who_speaks_engine"
LANE_CHARS = 100
LONG_TEXT = " ".join([SENTENCE] * 3)  # over LANE_CHARS
HERE = os.getpid()

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def started(factory: str = WHO_SPEAKS, *, lane_chars: int = LANE_CHARS) -> ProcessPoolRunner:
    runner = ProcessPoolRunner(factory, workers=2, max_queue=8, server_thread_chars=lane_chars)
    await runner.start()
    await wait_for(lambda: runner.state is not RunnerState.LOADING, timeout=30)
    return runner


async def speakers(runner: ProcessPoolRunner, text: str = SENTENCE) -> set[int]:
    """The processes that spoke one request's chunks."""
    return {chunk.sample_rate for chunk in await collect(runner.synthesize(request(text)))}


async def until_the_thread_speaks(runner: ProcessPoolRunner) -> None:
    """The thread loads in the background; until then short requests go to workers."""
    deadline = time.monotonic() + 30
    while await speakers(runner) != {HERE}:
        assert time.monotonic() < deadline, "the server thread never took a request"
        await asyncio.sleep(0.01)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runner() -> AsyncIterator[ProcessPoolRunner]:
    runner = await started()
    await until_the_thread_speaks(runner)
    yield runner
    await runner.stop()


def hold(runner: ProcessPoolRunner, text: str = SENTENCE) -> asyncio.Task[list[AudioChunk]]:
    """A request that stays running until its task is cancelled."""
    return asyncio.create_task(collect(runner.synthesize(request(text, seconds_per_sentence=0.05, endless=True))))


def lane_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "engine-server-thread"]


async def test_short_inputs_are_spoken_here_and_long_ones_by_a_worker(runner: ProcessPoolRunner) -> None:
    assert await speakers(runner) == {HERE}
    long_speakers = await speakers(runner, LONG_TEXT)
    assert len(long_speakers) == 1 and long_speakers <= worker_pids()
    assert runner.load().workers == 2 and runner.load().capacity == 10  # worker processes, as configured


async def test_a_short_input_goes_to_a_worker_while_the_thread_is_busy(runner: ProcessPoolRunner) -> None:
    holder = hold(runner)
    await wait_for(lambda: runner.load().active == 1)
    try:
        assert (await speakers(runner)) <= worker_pids()
        assert runner.load().active == 1  # only the holder still runs
    finally:
        await release(holder)
    await wait_for(lambda: runner.load().active == 0, timeout=30)
    assert await speakers(runner) == {HERE}


async def test_three_requests_run_at_once(runner: ProcessPoolRunner) -> None:
    holders = [hold(runner), hold(runner), hold(runner, LONG_TEXT)]
    try:
        await wait_for(lambda: runner.load().active == 3)  # one more than the worker processes
        assert runner.load().waiting == 0
    finally:
        await release(*holders)
    await wait_for(lambda: runner.load().active == 0, timeout=30)


async def test_chunks_stream_from_the_thread_as_they_are_made(runner: ProcessPoolRunner) -> None:
    stream = cast(
        AsyncGenerator[AudioChunk, None],
        runner.synthesize(request("One. Two. Three.", seconds_per_sentence=0.02, endless=True)),
    )
    chunks = [await anext(stream) for _ in range(5)]  # endless: these arrived while it kept speaking
    assert {chunk.sample_rate for chunk in chunks} == {HERE}
    assert runner.load().active == 1
    await stream.aclose()
    await wait_for(lambda: runner.load().active == 0, timeout=30)


async def test_closing_the_stream_stops_the_thread_and_frees_it(runner: ProcessPoolRunner) -> None:
    stream = cast(AsyncGenerator[AudioChunk, None], runner.synthesize(request(seconds_per_sentence=0.1, endless=True)))
    assert (await anext(stream)).sample_rate == HERE
    await stream.aclose()
    # Endless: the thread can only become free again because the cancel reached the engine.
    await wait_for(lambda: runner.load().active == 0, timeout=30)
    chunks = await collect(runner.synthesize(request("Hello there, how are you?")))
    assert [chunk.sample_rate for chunk in chunks] == [HERE]
    assert len(chunks[0].samples) < 2.5 * SAMPLE_RATE  # its own audio, nothing left over (the sentence's is ~3 s)


async def test_a_cancelled_consumer_task_frees_the_thread(runner: ProcessPoolRunner) -> None:
    holder = hold(runner)
    await wait_for(lambda: runner.load().active == 1)
    await release(holder)
    await wait_for(lambda: runner.load().active == 0, timeout=30)
    assert await speakers(runner) == {HERE}


async def test_engine_errors_from_the_thread_reach_the_caller(
    runner: ProcessPoolRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tts_server.runtime.runners.server_thread")
    with pytest.raises(InvalidRequest) as invalid:
        await collect(runner.synthesize(request(language="xx")))
    assert invalid.value.param == "language"
    assert not caplog.records  # a bad request is the caller's to hear about, not the log's
    with pytest.raises(GenerationFailed, match="Synthesis failed: ValueError: the test asked for a failure"):
        await collect(runner.synthesize(replace(request(), instructions="0 fail")))
    [record] = caplog.records  # a bug: its traceback is kept
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert await speakers(runner) == {HERE}  # the thread carries on


async def test_off_when_zero_characters() -> None:
    before = lane_threads()
    runner = await started(lane_chars=0)
    try:
        assert runner.load().workers == 2
        for _ in range(3):
            assert await speakers(runner) <= worker_pids()
        assert lane_threads() == before  # no thread was started
    finally:
        await runner.stop()


async def test_a_thread_that_cannot_load_leaves_the_work_to_the_workers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tts_server.runtime.runners.server_thread")
    runner = await started("tests.runtime.slow_engine:create_worker_only_engine")
    try:
        await wait_for(lambda: "server-thread engine did not load" in caplog.text)
        assert runner.state is RunnerState.READY
        for _ in range(3):
            assert await speakers(runner) <= worker_pids()
    finally:
        await runner.stop()


async def test_stop_fails_the_running_request_and_ends_the_thread() -> None:
    before = set(lane_threads())
    runner = await started()
    await until_the_thread_speaks(runner)
    ours = set(lane_threads()) - before
    assert len(ours) == 1
    running = hold(runner)
    await wait_for(lambda: runner.load().active == 1)
    await runner.stop()
    with pytest.raises(ModelNotLoaded, match="stopped"):
        await running
    assert not any(thread.is_alive() for thread in ours)
