"""Whole generations equal to transformers' `DiaForConditionalGeneration.generate(do_sample=False, guidance_scale=3)`:
codes and audio, bit for bit, for a lone request, requests that join and leave while others decode, a cloned
voice, a generation that ends early on EOS and one that fills the model's window. On the tiny model and on a
mid-size one at the real width (fp32, CPU)."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.engines.dia.conftest import write_wav
from tests.engines.dia.reference import (
    EngineDriver,
    Generated,
    Outcome,
    early_eos,
    greedy_request,
    reference_generate,
)
from tests.engines.dia.tiny_models import TinyDiaFolders, save_mid_dia
from tts_server.audio.decode import decode_audio
from tts_server.engines.base import ReferenceAudio, SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.dia.engine import DiaEngine
from tts_server.engines.dia.loading import DiaBundle, load_dia
from tts_server.engines.dia.streaming import decode_codes

TEXT = "Hello there, this is a test."
OTHER = "A second voice joins in the middle."
TRANSCRIPT = "This is my voice."
RATE = 44_100


@pytest.fixture(scope="module")
def mid_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_dia: TinyDiaFolders) -> Iterator[DiaBundle]:
    folder = save_mid_dia(tmp_path_factory.mktemp("mid-dia") / "dia")
    bundle = load_dia(str(folder), str(tiny_dia.codec), device="cpu")
    shutil.rmtree(folder)  # ~0.9 GB: loaded now, not worth keeping among pytest's temp folders
    yield bundle


@pytest.fixture(params=["tiny", "mid"])
def model(request: pytest.FixtureRequest) -> DiaBundle:
    bundle: DiaBundle = request.getfixturevalue("dia_bundle" if request.param == "tiny" else "mid_bundle")
    return bundle


def frames_for(bundle: DiaBundle, tiny: int, mid: int) -> int:
    """Fewer frames on the mid-size model: a CPU step there costs ~20x the tiny one."""
    return tiny if bundle.model.config.decoder_config.hidden_size < 1024 else mid


def driver(bundle: DiaBundle) -> EngineDriver:
    return EngineDriver(DiaEngine(bundle, max_batch=4, first_chunk_frames=16, chunk_frames=16))


def assert_same(bundle: DiaBundle, ours: Outcome, theirs: Generated) -> None:
    """Codes equal; their audio, decoded whole, equal; the audio we streamed window by window equal up to float
    rounding (the codec's convolutions over a shorter input may sum in another order: ~1e-8 seen)."""
    np.testing.assert_array_equal(ours.codes, theirs.codes)
    grid = ours.grid
    whole = decode_codes(bundle.codec, grid.new_frames(0, grid.ready_frames))
    np.testing.assert_array_equal(whole, theirs.audio)
    assert len(ours.audio) == len(theirs.audio)
    np.testing.assert_allclose(ours.audio, theirs.audio, rtol=0, atol=1e-6)


def tagged(text: str, transcript: str | None = None) -> str:
    """The text our engine gives Dia: [S1] (after the transcript, for a clone) and a closing [S2]."""
    return f"[S1] {transcript} [S1] {text} [S2]" if transcript else f"[S1] {text} [S2]"


def cloned_voice(folder: Path) -> tuple[VoiceSelection, np.ndarray]:
    t = np.arange(int(0.4 * RATE)) / RATE
    noise = np.random.default_rng(3).normal(0, 0.05, len(t))
    path = write_wav(folder / "me.wav", 0.3 * np.sin(2 * np.pi * 180 * t) + noise, RATE)
    reference = ReferenceAudio("me", path, TRANSCRIPT, "hash-me", 0.4, RATE)
    samples = decode_audio(path.read_bytes(), target_rate=RATE).samples  # what the engine encodes
    return VoiceSelection("me", reference=reference), samples


def test_a_lone_request_equals_generate(model: DiaBundle) -> None:
    frames = frames_for(model, 40, 10)
    ours = driver(model).run({0: [greedy_request(TEXT, "a", frames=frames)]})["a"]
    theirs = reference_generate(model, tagged(TEXT), frames=frames)
    assert ours.grid.eos_frame == frames + 1  # ran to its frame cap
    assert_same(model, ours, theirs)


def test_requests_joining_and_leaving_mid_flight_equal_generate(model: DiaBundle, tmp_path: Path) -> None:
    """A long greedy request decodes while a sampled one and a greedy top-45 one join and leave, and a cloned
    voice joins: each greedy one gets exactly what generate() gives it alone."""
    long, short = frames_for(model, 60, 24), frames_for(model, 15, 6)
    voice, prompt = cloned_voice(tmp_path)
    sampled = SynthesisRequest(
        text="Sampled words.", voice=VoiceSelection("plain"), sampling=SamplingParams(max_new_tokens=4, seed=2),
        request_id="sampled",
    )  # fmt: skip
    run = driver(model)
    outcomes = run.run(
        {
            0: [greedy_request(TEXT, "long", frames=long)],
            2: [sampled],
            5: [greedy_request(OTHER, "top45", frames=short, top_k=45)],
            9: [greedy_request(TEXT, "clone", frames=short, voice=voice)],
        }
    )
    for name in ("sampled", "top45", "clone"):
        trace, long_trace = run.trace(name), run.trace("long")
        assert long_trace.joined_steps[0] < trace.joined_steps[0]
        assert (trace.finished_step or 0) < (long_trace.finished_step or 0)  # left while "long" decoded
    assert_same(model, outcomes["long"], reference_generate(model, tagged(TEXT), frames=long))
    assert_same(model, outcomes["top45"], reference_generate(model, tagged(OTHER), frames=short, top_k=45))
    clone = reference_generate(model, tagged(TEXT, TRANSCRIPT), frames=short, prompt=prompt)
    assert_same(model, outcomes["clone"], clone)


def test_a_cloned_voice_equals_generate(model: DiaBundle, tmp_path: Path) -> None:
    """The prompt's codes (our encoding of the reference) and what follows them are generate()'s."""
    frames = frames_for(model, 30, 8)
    voice, prompt = cloned_voice(tmp_path)
    ours = driver(model).run({0: [greedy_request(TEXT, "clone", frames=frames, voice=voice)]})["clone"]
    theirs = reference_generate(model, tagged(TEXT, TRANSCRIPT), frames=frames, prompt=prompt)
    assert ours.grid.prompt_frames == round(0.4 * RATE / 512 + 0.5)
    assert_same(model, ours, theirs)


def test_an_early_eos_equals_generate(model: DiaBundle) -> None:
    """EOS chosen by the model ends channel 0, the later channels end in turn, alone or beside another request."""
    frames = frames_for(model, 60, 20)
    with early_eos(model, tagged(TEXT), frames=frames, at_frame=frames // 3) as ending:
        theirs = reference_generate(ending, tagged(TEXT), frames=frames)
        alone = driver(ending).run({0: [greedy_request(TEXT, "alone", frames=frames)]})["alone"]
        beside = driver(ending).run(
            {0: [greedy_request(OTHER, "other", frames=frames)], 1: [greedy_request(TEXT, "beside", frames=frames)]}
        )["beside"]
    eos_at = int(np.flatnonzero(theirs.codes[:, 0] == 1024)[0])
    assert frames // 3 < eos_at < frames  # really early
    for ours in (alone, beside):
        assert ours.grid.eos_frame == eos_at
        assert_same(model, ours, theirs)


def test_a_request_that_fills_the_window_equals_generate(dia_bundle: DiaBundle) -> None:
    """No frame cap: the segment runs to the end of the model's window (a 96-position one here), EOS and delay
    tail included, as generate() does with max_length at the window."""
    model = copy.deepcopy(dia_bundle.model)
    model.config.decoder_config.max_position_embeddings = 96
    bundle = replace(dia_bundle, model=model)
    sampling = SamplingParams(temperature=0.0, top_k=1, cfg_scale=3.0, seed=1)  # no max_new_tokens
    request = SynthesisRequest(text=TEXT, voice=VoiceSelection("plain"), sampling=sampling, request_id="window")
    ours = driver(bundle).run({0: [request]})["window"]
    frames = 96 - 1 - 16  # BOS, then EOS and the 15-frame tail
    theirs = reference_generate(bundle, tagged(TEXT), frames=frames)
    assert len(ours.codes) == 96
    assert_same(bundle, ours, theirs)
