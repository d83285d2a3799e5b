"""Seeded generation against the reference: the same tokens, exactly, alone and in a batch."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from tests.engines.s1.conftest import Goldens
from tts_server.engines.s1.generation import BatchGenerator
from tts_server.engines.s1.model import DualARModel
from tts_server.engines.s1.sampling import RowParams, SamplingSettings, sample_rows

CPU = torch.device("cpu")


def settings_of(case: dict[str, Any]) -> SamplingSettings:
    return SamplingSettings(case["temperature"], case["top_p"], case["repetition_penalty"])


def generate(
    model: DualARModel, goldens: Goldens, cases: list[dict[str, Any]], join_after: dict[str, int] | None = None
) -> dict[str, np.ndarray]:
    """Run `cases` as rows of one batch; a case named in `join_after` joins after that many steps."""
    generator: BatchGenerator[str] = BatchGenerator(model, device=CPU, dtype=torch.float32)
    frames: dict[str, list[np.ndarray]] = {}
    waiting = {case["name"]: case for case in cases}
    steps = 0
    while waiting or generator.rows:
        for name, case in list(waiting.items()):
            if (join_after or {}).get(name, 0) <= steps:
                del waiting[name]
                prompt = goldens.arrays[f"prompt_{case['prompt']}"]
                frames[name] = [generator.add(name, prompt, settings_of(case), case["seed"])]
        if generator.rows:
            for name, frame in zip(generator.rows, generator.step(), strict=True):
                frames[name].append(frame)
        for case in cases:
            if (
                case["name"] in frames
                and len(frames[case["name"]]) >= case["max_new_tokens"]
                and case["name"] in generator.rows
            ):
                generator.remove(case["name"])
        steps += 1
    return {name: np.stack(rows, axis=1) for name, rows in frames.items()}


def test_seeded_tokens_equal_the_reference(model: DualARModel, goldens: Goldens) -> None:
    for case in goldens.generation_cases:
        tokens = generate(model, goldens, [case])[case["name"]]
        np.testing.assert_array_equal(tokens, goldens.arrays[f"generated_{case['name']}"], err_msg=case["name"])


def test_batched_rows_keep_their_reference_tokens_when_joining_mid_flight(model: DualARModel, goldens: Goldens) -> None:
    cases = goldens.generation_cases
    joins = {cases[1]["name"]: 3, cases[3]["name"]: 11}
    tokens = generate(model, goldens, cases, join_after=joins)
    for case in cases:
        np.testing.assert_array_equal(
            tokens[case["name"]], goldens.arrays[f"generated_{case['name']}"], err_msg=case["name"]
        )


def test_the_goldens_see_each_sampling_detail(model: DualARModel, goldens: Goldens) -> None:
    """The equality above can fail: a different penalty, top-p, temperature or seed changes the tokens."""
    case = goldens.generation_cases[0]
    expected = goldens.arrays[f"generated_{case['name']}"]
    changes = [{"repetition_penalty": 1.0}, {"top_p": 0.9}, {"temperature": 0.75}, {"seed": case["seed"] + 1}]
    for change in changes:
        tokens = generate(model, goldens, [{**case, **change}])[case["name"]]
        assert not np.array_equal(tokens, expected), change


def test_codebooks_one_to_nine_stay_within_the_residual_codebooks(goldens: Goldens, model: DualARModel) -> None:
    tokens = generate(model, goldens, goldens.generation_cases[:1])[goldens.generation_cases[0]["name"]]
    assert tokens[2:].max() < 1024
    assert tokens[1].max() >= 1024  # codebook 0 uses all 2,048 semantic codes of the tiny model


def test_sampling_rounds_parameters_like_the_reference() -> None:
    params = RowParams.of([SamplingSettings(0.7, 0.8, 1.1)], dtype=torch.float32, device=CPU)
    assert params.temperature.item() == 0.69921875 and params.top_p.item() == 0.80078125
    assert params.penalty.item() == 1.1015625


def test_penalty_window_divides_positive_and_multiplies_negative_logits() -> None:
    logits = torch.tensor([[2.0, -2.0, 1.0, 0.5]])
    params = RowParams.of([SamplingSettings(1.0, 1.0, 2.0)], dtype=torch.float32, device=CPU)
    draws = torch.Generator().manual_seed(0)
    counts = np.zeros(4)
    for _ in range(2000):
        counts[sample_rows(logits, params, [draws], previous=torch.tensor([[0, 1]])).item()] += 1
    penalised = torch.softmax(torch.tensor([1.0, -4.0, 1.0, 0.5]), -1).numpy()
    np.testing.assert_allclose(counts / counts.sum(), penalised, atol=0.04)


def test_top_p_keeps_the_token_that_crosses_the_threshold_out() -> None:
    """Kept: tokens whose cumulative probability, themselves included, stays within top_p (at least one)."""
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    params = RowParams.of([SamplingSettings(1.0, 0.7, 1.0)], dtype=torch.float32, device=CPU)
    draws = torch.Generator().manual_seed(1)
    seen = {int(sample_rows(logits, params, [draws]).item()) for _ in range(300)}
    assert seen == {0}


def test_removed_rows_free_their_slot(model: DualARModel, goldens: Goldens) -> None:
    generator: BatchGenerator[str] = BatchGenerator(model, device=CPU, dtype=torch.float32)
    case = goldens.generation_cases[0]
    settings = settings_of(case)
    for name in ("a", "b", "c"):
        generator.add(name, goldens.arrays["prompt_plain"], settings, case["seed"])
    generator.step()
    generator.remove("a")
    assert generator.rows == ["c", "b"]
    generator.remove("b")
    generator.remove("c")
    assert len(generator) == 0
    generator.add("d", goldens.arrays["prompt_plain"], replace(settings), case["seed"])
    frames = [generator.step()[0] for _ in range(3)]
    np.testing.assert_array_equal(np.stack(frames, 1), goldens.arrays[f"generated_{case['name']}"][:, 1:4])


@pytest.mark.parametrize("device", ["cpu"])
def test_prompt_that_fills_the_context_is_refused(model: DualARModel, device: str) -> None:
    generator: BatchGenerator[str] = BatchGenerator(model, device=torch.device(device), dtype=torch.float32)
    prompt = np.zeros((11, model.config.max_seq_len), dtype=np.int64)
    with pytest.raises(ValueError, match="context"):
        generator.add("long", prompt, SamplingSettings(0.7, 0.8, 1.1), 0)
