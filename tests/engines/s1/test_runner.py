"""The S1-mini runner (the shared continuous-batching core around the engine): loading in the background,
admission, a request joining a running batch, the queue, and the worker thread's lifetime."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from tts_server.engines.base import AudioChunk, SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.s1.loading import S1Bundle
from tts_server.errors import ModelNotLoaded, QueueFull
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.runtime.runners.s1 import S1Runner

HOP = 2048


def make_runner(bundle: S1Bundle, **options: Any) -> S1Runner:
    values: dict[str, Any] = {"model": "unused", "max_batch": 4, "max_queue": 4, "first_window": 4, "window": 4,
                              "voice_sample_frames": 6}  # fmt: skip
    return S1Runner(loader=lambda: bundle, **{**values, **options})


def request(frames: int = 8, seed: int = 1, request_id: str = "") -> SynthesisRequest:
    return SynthesisRequest(
        text="Hello from the runner.",
        voice=VoiceSelection("default", builtin="default"),
        sampling=SamplingParams(max_new_tokens=frames, seed=seed),
        request_id=request_id,
    )


async def collect(chunks: AsyncIterator[AudioChunk]) -> np.ndarray:
    return np.concatenate([chunk.samples async for chunk in chunks])


async def until_not_loading(runner: S1Runner) -> None:
    for _ in range(3000):
        if runner.state is not RunnerState.LOADING:
            return
        await asyncio.sleep(0.01)


async def test_loads_in_the_background_then_serves(s1_bundle: S1Bundle) -> None:
    release = threading.Event()

    def slow_loader() -> S1Bundle:
        release.wait(30)
        return s1_bundle

    runner = S1Runner(model="unused", loader=slow_loader, max_new_tokens=6, voice_sample_frames=6)
    await runner.start()
    try:
        assert runner.state is RunnerState.LOADING and runner.state_detail == "loading S1-mini weights"
        with pytest.raises(ModelNotLoaded, match="loading S1-mini weights"):
            runner.synthesize(request())
        release.set()
        await until_not_loading(runner)
        assert runner.state is RunnerState.READY and runner.info.device == "cpu"
        assert len(await collect(runner.synthesize(request(frames=6)))) == 6 * HOP
    finally:
        release.set()
        await runner.stop()
    assert runner.state is RunnerState.STOPPED


async def test_a_request_joins_a_running_batch_and_the_queue_is_bounded(s1_bundle: S1Bundle) -> None:
    runner = make_runner(s1_bundle, max_batch=1, max_queue=1)
    await runner.start()
    await until_not_loading(runner)
    try:
        running = runner.synthesize(request(frames=60, request_id="long"))
        await anext(running)
        waiting = asyncio.create_task(collect(runner.synthesize(request(frames=5, seed=2, request_id="late"))))
        while runner.load().waiting == 0:
            await asyncio.sleep(0.01)
        assert runner.load().active == 1 and runner.load().capacity == 2
        with pytest.raises(QueueFull, match="S1-mini is busy"):
            runner.synthesize(request())
        await running.aclose()  # the client leaves: its row goes, the waiting one starts
        assert len(await waiting) == 5 * HOP
        stats = runner.stats
        assert stats is not None and stats.traces["long"].finished_step is None
    finally:
        await runner.stop()


async def test_not_ready_before_start_and_voices(s1_bundle: S1Bundle) -> None:
    runner: EngineRunner = make_runner(s1_bundle)  # the protocol the app talks to
    with pytest.raises(ModelNotLoaded, match="s1-mini"):
        runner.synthesize(request())
    assert runner.has_voice("Alloy") and not runner.has_voice("nobody")
    assert len(runner.voices()) == 19 and runner.info.capabilities.streaming


async def test_a_failing_loader_is_a_failed_state_that_says_why(s1_bundle: S1Bundle) -> None:
    def broken() -> S1Bundle:
        raise RuntimeError("the disk is on fire")

    runner = S1Runner(model="unused", loader=broken)
    await runner.start()
    await until_not_loading(runner)
    assert runner.state is RunnerState.FAILED and "S1-mini failed to load: the disk is on fire" in str(
        runner.state_detail
    )
    with pytest.raises(ModelNotLoaded, match="disk is on fire"):
        runner.synthesize(request())
    await runner.stop()


async def test_a_missing_extra_is_named_with_its_install_command() -> None:
    def missing() -> S1Bundle:
        raise ImportError("No module named 'einops'")

    runner = S1Runner(model="unused", loader=missing)
    await runner.start()
    await until_not_loading(runner)
    assert runner.state is RunnerState.FAILED
    expected = "S1-mini needs the 's1' extra (pip install 'tts-server[s1]'): No module named 'einops'"
    assert runner.state_detail == expected
    await runner.stop()
