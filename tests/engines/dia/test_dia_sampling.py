"""Our sampler against transformers' own Dia logits processors, on fixed logits: the same distribution to draw
from (temperature, top-p, the CFG filter's top-k, the EOS rules), the same greedy tokens, and draws that follow
that distribution."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import GenerationConfig

from tts_server.engines.dia.loading import DiaBundle
from tts_server.engines.dia.sampling import sample_next, sampling_logits

CHANNELS, VOCAB, EOS, PAD, BOS = 9, 1028, 1024, 1025, 1026

# (temperature, top_p, top_k, cfg_scale): Dia's authors' defaults, transformers' example, loose, tight
SETTINGS = [(1.2, 0.95, 45, 3.0), (1.8, 0.90, 50, 3.0), (1.0, 1.0, VOCAB, 2.0), (1.3, 0.5, 8, 4.5)]


def transformers_scores(model: Any, cond: torch.Tensor, uncond: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """Run the processors `DiaForConditionalGeneration.generate()` builds for `config` over one step's logits.
    cond/uncond [n, C, V]; returns the processed scores [n, C, V] it would softmax (or argmax)."""
    config, _ = model._prepare_generation_config(config)
    processors = model._get_logits_processor(
        generation_config=config,
        input_ids_seq_length=1,
        encoder_input_ids=torch.zeros(2 * len(cond), 4, dtype=torch.long),
        device="cpu",
        model_kwargs={},
    )
    n = len(cond)
    input_ids = torch.full((n * CHANNELS, 5), BOS)  # short of max_length: no EOS is forced by length
    scores = torch.cat([cond.reshape(n * CHANNELS, VOCAB), uncond.reshape(n * CHANNELS, VOCAB)])
    scores = processors(input_ids, scores.clone())
    return scores.view(n, CHANNELS, VOCAB)


def logits_with_eos_cases(seed: int, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random logits where row 0 channel 0 prefers EOS (conditional and guided) and row 1 channel 2 has the
    special tokens on top of its guided logits (so the CFG filter keeps fewer real candidates)."""
    generator = torch.Generator().manual_seed(seed)
    cond = torch.randn(rows, CHANNELS, VOCAB, generator=generator) * 3
    uncond = torch.randn(rows, CHANNELS, VOCAB, generator=generator) * 3
    cond[0, 0, EOS], uncond[0, 0, EOS] = 30.0, 0.0
    cond[1, 2, EOS:], uncond[1, 2, EOS:] = 25.0, 0.0
    return cond, uncond


def params(settings: list[tuple[float, float, int, float]]) -> dict[str, torch.Tensor]:
    temperature, top_p, top_k, cfg_scale = zip(*settings, strict=True)
    return {
        "temperature": torch.tensor(temperature),
        "top_p": torch.tensor(top_p, dtype=torch.float64),
        "top_k": torch.tensor(top_k),
        "cfg_scale": torch.tensor(cfg_scale),
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distribution_is_transformers_processors_distribution(dia_bundle: DiaBundle, seed: int) -> None:
    """Each row, with its own parameters inside one batch, draws from exactly the distribution generate() would."""
    cond, uncond = logits_with_eos_cases(seed, len(SETTINGS))
    ours = torch.softmax(sampling_logits(cond, uncond, eos=EOS, **params(SETTINGS)), dim=-1)
    for row, (temperature, top_p, top_k, cfg_scale) in enumerate(SETTINGS):
        config = GenerationConfig(
            do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k, guidance_scale=cfg_scale, max_length=64
        )
        theirs = torch.softmax(
            transformers_scores(dia_bundle.model, cond[row : row + 1], uncond[row : row + 1], config), -1
        )
        assert torch.equal(ours[row], theirs[0]), f"row {row}: {(ours[row] - theirs[0]).abs().max()}"
    assert torch.equal(ours[0, 0], torch.nn.functional.one_hot(torch.tensor(EOS), VOCAB).float())  # EOS alone
    assert (ours[:, 1:, EOS:] == 0).all() and (ours[:, 0, EOS + 1 :] == 0).all()
    assert ((ours[1, 2] > 0).sum() < 45) and ((ours[1, 2] > 0).sum() > 0)  # specials took candidate places


@pytest.mark.parametrize("top_k", [1, 2, 45])
def test_greedy_is_transformers_greedy(dia_bundle: DiaBundle, top_k: int) -> None:
    """do_sample=False: the argmax of the conditional logits among the guided top-k; with top-k 1 and the special
    tokens on top of a channel's guided logits, no candidate is left and both answer token 0."""
    cond, uncond = logits_with_eos_cases(5, 3)
    config = GenerationConfig(do_sample=False, top_k=top_k, guidance_scale=3.0, max_length=64)
    theirs = transformers_scores(dia_bundle.model, cond, uncond, config).argmax(-1)
    settings = [(0.0, 0.95, top_k, 3.0)] * 3
    ours = sample_next(cond, uncond, eos=EOS, uniforms=torch.rand(3, CHANNELS), **params(settings))
    assert torch.equal(ours, theirs)
    assert ours[0, 0] == EOS
    if top_k == 1:
        assert ours[1, 2] == 0  # every candidate was a special token


def test_draws_follow_the_distribution() -> None:
    """Evenly spaced uniforms land on each token in proportion to its probability (inverse CDF), never on a
    token with probability 0, and a channel with no candidate left takes the greedy token."""
    cond, uncond = logits_with_eos_cases(9, 2)
    settings = [(1.2, 0.95, 45, 3.0), (1.0, 1.0, 1, 3.0)]
    probs = torch.softmax(sampling_logits(cond, uncond, eos=EOS, **params(settings)), dim=-1)
    assert probs[1, 2].isnan().all()  # nothing left to draw from in that channel
    probs[1, 2] = torch.nn.functional.one_hot(torch.tensor(0), VOCAB).float()
    draws = 4000
    uniforms = ((torch.arange(draws) + 0.5) / draws)[:, None, None].expand(draws, 2, CHANNELS)
    repeated = {k: v.repeat(draws) for k, v in params(settings).items()}
    tokens = sample_next(
        cond.repeat(draws, 1, 1), uncond.repeat(draws, 1, 1), eos=EOS, uniforms=uniforms.reshape(-1, CHANNELS),
        **repeated,
    ).view(draws, 2, CHANNELS)  # fmt: skip
    counts = torch.nn.functional.one_hot(tokens, VOCAB).sum(0).float() / draws
    assert (counts[probs == 0] == 0).all()
    assert (counts - probs).abs().max() <= 1.5 / draws  # token 0 every time in the empty channel
