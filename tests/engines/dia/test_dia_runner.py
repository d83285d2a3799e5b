"""The Dia runner end to end on a tiny random Dia: batching, seeds, streaming, cloning, chunking, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.engines.dia.conftest import collect, make_runner, request, started, write_wav
from tests.support.worker_gate import WorkerGate, admitted, first_audio_of, until
from tts_server.engines.base import ReferenceAudio, VoiceSelection
from tts_server.engines.dia.loading import DiaBundle
from tts_server.errors import GpuOutOfMemory, ModelNotLoaded, QueueFull
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.runtime.runners.dia import DiaRunner

HOP = 512


async def test_text_only_gives_float32_audio_at_44k(dia_runner: DiaRunner) -> None:
    chunks = [chunk async for chunk in dia_runner.synthesize(request(frames=40))]
    assert {chunk.sample_rate for chunk in chunks} == {44_100}
    assert all(chunk.samples.dtype == np.float32 for chunk in chunks)
    audio = np.concatenate([chunk.samples for chunk in chunks])
    assert len(audio) == 40 * HOP
    assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0


async def test_concurrent_requests_share_steps_each_with_its_own_length_and_seed(dia_runner: DiaRunner) -> None:
    alone = await collect(dia_runner.synthesize(request("Request number 0.", frames=30, seed=11)))
    lengths = (30, 50, 70)
    gate = WorkerGate.on(dia_runner, lambda engine: True)  # the first step waits until all three are in
    tasks = [
        asyncio.create_task(
            collect(
                dia_runner.synthesize(request(f"Request number {n}.", frames=frames, seed=11 + n, request_id=f"r{n}"))
            )
        )
        for n, frames in enumerate(lengths)
    ]
    await gate.wait_held()
    await until(lambda: admitted(dia_runner) == 3)
    gate.release()
    results = await asyncio.gather(*tasks)
    assert [len(audio) for audio in results] == [frames * HOP for frames in lengths]
    np.testing.assert_array_equal(results[0], alone)  # same seed and text: same audio, batched or not
    assert not np.array_equal(results[1][: 30 * HOP], results[2][: 30 * HOP])
    stats = dia_runner.stats
    assert stats is not None and max(stats.batch_sizes) == 3
    traces = [stats.traces[f"r{n}"] for n in range(3)]
    first_join, last_join = min(t.joined_steps[0] for t in traces), max(t.joined_steps[0] for t in traces)
    finished = [t.finished_step for t in traces]
    assert all(step is not None and step > last_join for step in finished)  # decoded side by side
    assert sum(step - first_join for step in finished if step is not None) > stats.steps - first_join


async def test_a_request_joins_a_running_batch(dia_runner: DiaRunner) -> None:
    gate = WorkerGate.on(dia_runner, first_audio_of("long"))  # the long one is decoding now
    long = dia_runner.synthesize(request(frames=150, request_id="long"))
    first = await anext(long)
    late_task = asyncio.create_task(collect(dia_runner.synthesize(request(frames=20, seed=5, request_id="late"))))
    await until(lambda: admitted(dia_runner) == 2)  # waiting, or handed to the engine to join next step
    gate.release()
    late = await late_task
    rest = await collect(long)
    stats = dia_runner.stats
    assert stats is not None
    assert len(late) == 20 * HOP and len(first.samples) + len(rest) == 150 * HOP
    trace_long, trace_late = stats.traces["long"], stats.traces["late"]
    assert trace_long.joined_steps[0] < trace_late.joined_steps[0] < (trace_late.finished_step or 0)
    assert (trace_late.finished_step or 0) < (trace_long.finished_step or 0)
    assert stats.rows_joined_mid_flight >= 1
    alone = await collect(dia_runner.synthesize(request(frames=20, seed=5)))
    np.testing.assert_array_equal(late, alone)  # joining mid-flight does not change a seed's audio


async def test_audio_streams_before_generation_ends(dia_runner: DiaRunner) -> None:
    chunks = [chunk async for chunk in dia_runner.synthesize(request(frames=120, request_id="stream"))]
    assert len(chunks) >= 5
    trace = dia_runner.stats.traces["stream"]  # type: ignore[union-attr]
    assert trace.first_audio_step is not None and trace.finished_step is not None
    assert trace.first_audio_step - trace.joined_steps[0] < 16 + 15 + 12 + 2  # chunk + delay + lookahead
    assert trace.finished_step - trace.first_audio_step > 80  # 136 steps in all


async def test_cancelling_one_request_leaves_the_others_running(dia_runner: DiaRunner) -> None:
    gate = WorkerGate.on(dia_runner, first_audio_of("doomed"))
    doomed = dia_runner.synthesize(request(frames=300, request_id="doomed"))
    survivor = asyncio.create_task(collect(dia_runner.synthesize(request(frames=120, request_id="survivor"))))
    await anext(doomed)
    await doomed.aclose()  # the client went away
    gate.release()
    audio = await survivor
    assert len(audio) == 120 * HOP
    stats = dia_runner.stats
    assert stats is not None and stats.traces["doomed"].finished_step is None
    assert dia_runner.load().active == 0 and dia_runner.load().waiting == 0
    assert stats.steps < 300  # the cancelled row stopped long before its 300 frames


async def test_cloning_strips_the_prompt_and_encodes_the_reference_once(dia_runner: DiaRunner, tmp_path: Path) -> None:
    def reference(seconds: float, name: str) -> VoiceSelection:
        rate = 24_000  # not the codec's rate: decoding resamples
        t = np.arange(int(seconds * rate)) / rate
        path = write_wav(tmp_path / f"{name}.wav", 0.3 * np.sin(2 * np.pi * 180 * t), rate)
        ref = ReferenceAudio(name, path, "This is my voice.", f"hash-{name}", seconds, rate)
        return VoiceSelection(name, reference=ref)

    short, long = reference(0.5, "short"), reference(2.0, "long")
    outputs = [
        await collect(dia_runner.synthesize(request(frames=30, voice=voice, request_id=voice.voice_id)))
        for voice in (short, long, short)
    ]
    assert [len(audio) for audio in outputs] == [30 * HOP] * 3
    np.testing.assert_array_equal(outputs[0], outputs[2])
    stats = dia_runner.stats
    assert stats is not None
    assert stats.traces["short"].prompt_frames == [round(0.5 * 44_100 / HOP + 0.5)]
    assert stats.traces["long"].prompt_frames == [round(2.0 * 44_100 / HOP + 0.5)]
    assert dia_runner._engine is not None and dia_runner._engine.prompts.encodings == 2


async def test_long_text_is_split_and_later_segments_are_conditioned_on_the_first(dia_runner: DiaRunner) -> None:
    """A voice with a seed of its own has no stored prompt: the first segment's audio keeps the text in one voice
    (a built-in voice conditions every segment on its stored prompt: test_dia_voice_prompts.py)."""
    text = " ".join(f"This is sentence number {n} of a longer story." for n in range(12))
    own_seed = VoiceSelection("default", builtin="default", seed=99)
    chunks = [c async for c in dia_runner.synthesize(request(text, frames=24, voice=own_seed, request_id="long-text"))]
    trace = dia_runner.stats.traces["long-text"]  # type: ignore[union-attr]
    assert trace.segments >= 3
    assert trace.prompt_frames[0] == 0 and all(frames == 24 for frames in trace.prompt_frames[1:])
    fade = round(44_100 * 0.040)
    assert sum(len(c.samples) for c in chunks) == trace.segments * 24 * HOP - (trace.segments - 1) * fade


async def test_out_of_memory_fails_only_the_newest_request(dia_runner: DiaRunner) -> None:
    engine = dia_runner._engine
    assert engine is not None
    real_step = engine.decoder.step
    calls = {"n": 0}

    def flaky_step(tokens: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if len(tokens) == 2 and calls.get("raised") is None:
            calls["raised"] = 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_step(tokens)

    engine.decoder.step = flaky_step  # type: ignore[method-assign]
    gate = WorkerGate.on(dia_runner, first_audio_of("first"))
    first = dia_runner.synthesize(request(frames=80, request_id="first"))
    head = await anext(first)
    newest = asyncio.create_task(collect(dia_runner.synthesize(request(frames=40, request_id="newest"))))
    await until(lambda: admitted(dia_runner) == 2)  # joins while "first" still decodes
    gate.release()
    with pytest.raises(GpuOutOfMemory):
        await newest
    rest = await collect(first)
    assert len(head.samples) + len(rest) == 80 * HOP
    assert len(await collect(dia_runner.synthesize(request(frames=20)))) == 20 * HOP  # still serving


async def test_queue_full_when_batch_and_waiting_list_are_taken(dia_bundle: DiaBundle) -> None:
    runner = await started(make_runner(dia_bundle, max_batch=1, max_queue=1))
    try:
        gate = WorkerGate.on(runner, first_audio_of("running"))  # "running" cannot finish meanwhile
        running = runner.synthesize(request(frames=200, request_id="running"))
        await anext(running)
        waiting = asyncio.create_task(collect(runner.synthesize(request(frames=10))))
        await until(lambda: runner.load().waiting == 1)
        assert runner.load().active == 1
        with pytest.raises(QueueFull):
            runner.synthesize(request(frames=10))
        await running.aclose()
        gate.release()
        assert len(await waiting) == 10 * HOP
    finally:
        await runner.stop()


async def test_not_ready_until_started(dia_bundle: DiaBundle) -> None:
    runner: EngineRunner = make_runner(dia_bundle)  # the protocol the app talks to
    with pytest.raises(ModelNotLoaded):
        runner.synthesize(request())
    assert runner.has_voice("Aria") and not runner.has_voice("nobody")
    assert len(runner.voices()) == 19


async def test_missing_weights_fail_with_a_helpful_detail(tmp_path: Path) -> None:
    runner = await started(DiaRunner(model=str(tmp_path / "no-such-dia"), codec=str(tmp_path / "no-dac"), device="cpu"))
    assert runner.state is RunnerState.FAILED
    assert runner.state_detail is not None
    assert "no-such-dia" in runner.state_detail and "TTS_DIA_MODEL" in runner.state_detail
    with pytest.raises(ModelNotLoaded, match="no-such-dia"):
        runner.synthesize(request())
    await runner.stop()
