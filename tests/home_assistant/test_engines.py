"""Every engine the registry runs, through Wyoming. The app starts with TTS_PROVIDER=auto and a tiny random Dia
found locally, so the registry holds Dia (the default), espeak and any engine whose files this machine has:
the test speaks with each ready engine it finds, whatever they are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from tests.dia_http.conftest import LONG_TEXT, RequestSpy, dia_runner, dia_settings, samples_for
from tests.engines.dia.tiny_models import TinyDiaFolders, save_tiny_dia
from tests.home_assistant.conftest import (
    SENTENCES,
    WyomingApp,
    assert_pcm_stream,
    describe,
    read_until,
    running_wyoming,
    synthesize,
)
from tests.support.audio import rms
from tests.support.speech_check import pick_spoken_sentence
from tests.support.tiny_torch import offline_one_thread
from tts_server.runtime.runners.base import RunnerState
from tts_server.wyoming_server.catalogue import ENGINE_SEPARATOR


@pytest.fixture(scope="module", autouse=True)
def offline_single_threaded() -> Iterator[None]:
    with offline_one_thread():
        yield


@pytest.fixture(scope="module")
def tiny_dia(tmp_path_factory: pytest.TempPathFactory) -> TinyDiaFolders:
    return save_tiny_dia(tmp_path_factory.mktemp("tiny-dia-wyoming"))


@pytest.fixture
async def served(data_dir: Path, tiny_dia: TinyDiaFolders) -> AsyncIterator[WyomingApp]:
    async with running_wyoming(_settings(data_dir, tiny_dia)) as running:
        yield running


def _settings(data_dir: Path, tiny_dia: TinyDiaFolders, **overrides: Any) -> Any:
    return dia_settings(data_dir, tiny_dia, provider="auto", wyoming_port=0, **overrides)


def _engine_of(voice_name: str, default_engine: str) -> str:
    engine, separator, _ = voice_name.partition(ENGINE_SEPARATOR)
    return engine if separator else default_engine


async def test_every_ready_engine_speaks_through_wyoming(served: WyomingApp) -> None:
    registry = served.app.state.tts.engines
    ready = [runner for runner in registry if runner.state is RunnerState.READY]
    assert {"dia", "espeak"} <= {runner.info.id for runner in ready} and registry.default_id == "dia"
    async with served.client() as client:
        program = await describe(client)
        for runner in ready:
            engine = runner.info.id
            voices = [voice for voice in program.voices if _engine_of(voice.name, registry.default_id) == engine]
            assert voices, f"no voice of {engine} in describe"
            assert all(f"({engine})" in voice.description for voice in voices)
            answer = await synthesize(client, SENTENCES[1], SynthesizeVoice(name=voices[0].name))
            assert answer.errors == [], (engine, answer.errors)
            assert_pcm_stream(answer, runner.info.sample_rate)  # the engine's own rate, nothing resampled
            assert rms(answer.samples) > 0.001, engine
            if engine == "espeak":  # the one engine here with real weights says real words
                assert pick_spoken_sentence(answer.samples, answer.start.rate, SENTENCES) == SENTENCES[1]
            if engine == "dia":  # a random Dia says nothing, but every frame of its one segment arrives
                assert len(answer.samples) == samples_for(1)


async def test_dia_voices_offer_both_speakers(served: WyomingApp) -> None:
    runner = dia_runner(served.app)
    async with served.client() as client:
        program = await describe(client)
        by_name = {voice.name: voice for voice in program.voices}
        assert [speaker.name for speaker in by_name["aria"].speakers or []] == ["S1", "S2"]
        assert by_name["espeak:aria"].speakers is None
        with RequestSpy(runner) as spy:
            answer = await synthesize(client, "Hello there.", SynthesizeVoice(name="aria", speaker="S2"))
            assert answer.errors == [] and spy.last.text == "[S2] Hello there."
            tagged = await synthesize(client, "[S1] Hi. [S2] Hello.", SynthesizeVoice(name="aria", speaker="S2"))
            assert tagged.errors == [] and spy.last.text == "[S1] Hi. [S2] Hello."  # the text's own tags win
        refused = await synthesize(client, "Hello.", SynthesizeVoice(name="espeak:aria", speaker="S2"))
    assert refused.types == ["error", "audio-stop"] and "no speakers" in refused.errors[0].text


async def test_a_client_that_leaves_frees_its_dia_row(served: WyomingApp) -> None:
    runner = dia_runner(served.app)
    with RequestSpy(runner) as spy:
        async with served.client() as client:
            await client.write_event(Synthesize(text=LONG_TEXT, voice=SynthesizeVoice(name="aria")).event())
            await read_until(client, "audio-chunk")
        abandoned = spy.last.request_id
        for _ in range(1500):  # up to 30 s: the row is dropped at the next decoding step
            if runner.load().active == 0:
                break
            await asyncio.sleep(0.02)
    assert runner.load().active == 0 and runner.load().waiting == 0
    stats = runner.stats
    assert stats is not None
    trace = stats.traces[abandoned]
    # Stopped early: a text of many segments, left after the first one's audio. (Whether the cancel lands at the
    # end of a segment or inside the next one depends on timing; neither joins every segment.)
    assert trace.segments > 5 and len(trace.joined_steps) < trace.segments


async def test_a_dia_stream_keeps_one_rate_and_one_audio_start(served: WyomingApp) -> None:
    words = LONG_TEXT.split(" ")[:60]
    async with served.client() as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="aria")).event())
        for word in words:
            await client.write_event(SynthesizeChunk(text=word + " ").event())
        await client.write_event(SynthesizeStop().event())
        answer = await read_until(client, "synthesize-stopped")
    assert answer.errors == [] and answer.types.count("audio-start") == 1
    assert answer.start.rate == 44_100 and {chunk.rate for chunk in answer.chunks} == {44_100}
    assert len(answer.samples) >= samples_for(2)  # several sentences, each its own Dia segment
