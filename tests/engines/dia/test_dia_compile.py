"""The compiled decoding step (torch.compile; CUDA graphs on CUDA) gives the eager step's codes.

On this CPU, inductor compiles the tiny model's step in tens of seconds, so this module keeps to one engine with
the smallest buckets (batch 1 and 2) and one schedule; the GPU run is in bench/dia_bench.py."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engines.dia.conftest import CHUNK_FRAMES, PROMPT_FRAMES
from tests.engines.dia.reference import EngineDriver, greedy_request
from tts_server.engines.base import SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.dia.compile import batch_buckets, bucket_for
from tts_server.engines.dia.engine import DiaEngine
from tts_server.engines.dia.loading import DiaBundle


def engine(bundle: DiaBundle, *, compiled: bool) -> DiaEngine:
    return DiaEngine(
        bundle, max_batch=2, compile_step=compiled, first_chunk_frames=CHUNK_FRAMES, chunk_frames=CHUNK_FRAMES,
        voice_prompt_frames=PROMPT_FRAMES,
    )  # fmt: skip


def schedule() -> dict[int, list[SynthesisRequest]]:
    """A greedy request alone, then a sampled one (a built-in voice: its prompt is made first) joining it."""
    sampled = SynthesisRequest(
        text="Sampled words.", voice=VoiceSelection("kai", builtin="kai"),
        sampling=SamplingParams(max_new_tokens=12, seed=3), request_id="sampled",
    )  # fmt: skip
    return {0: [greedy_request("Hello there, this is a test.", "greedy", frames=30)], 5: [sampled]}


def test_buckets() -> None:
    assert batch_buckets(1) == [1] and batch_buckets(8) == [1, 2, 4, 8] and batch_buckets(12) == [1, 2, 4, 8, 12]
    assert bucket_for(3, [1, 2, 4, 8]) == 4 and bucket_for(8, [1, 2, 4, 8]) == 8
    with pytest.raises(ValueError, match="largest"):
        bucket_for(9, [1, 2, 4, 8])


def test_compiled_step_gives_the_eager_codes(dia_bundle: DiaBundle) -> None:
    eager = EngineDriver(engine(dia_bundle, compiled=False)).run(schedule())
    compiled_engine = engine(dia_bundle, compiled=True)
    compiled_engine.warm_up()  # compiles, and runs every bucket (1 and 2), as the runner does at start
    assert compiled_engine.compiled and compiled_engine.decoder.buckets == [1, 2]
    compiled = EngineDriver(compiled_engine).run(schedule())
    assert set(compiled) == set(eager) == {"greedy", "sampled", "voice-prompt-kai"}
    for name, outcome in eager.items():
        np.testing.assert_array_equal(compiled[name].codes, outcome.codes, err_msg=name)
        np.testing.assert_allclose(compiled[name].audio, outcome.audio, rtol=0, atol=1e-6, err_msg=name)
    assert max(compiled_engine.stats.batch_sizes) == 2  # the two shared steps (batch bucket 2)
