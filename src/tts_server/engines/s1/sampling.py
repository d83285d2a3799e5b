"""S1-mini's token sampling, row by row with each request's own parameters and random generator.

The reference (fish-speech `logits_to_probs` + `multinomial_sample_one_no_sync`) samples one token from
logits [V] like this, and so do we, on a batch [B, V] where every row does exactly what the reference does:

1. repetition penalty: logits at the previous tokens' ids are divided by the penalty (multiplied when
   negative);
2. top-p on the untempered logits: sorted by logit, a token is dropped once the cumulative softmax
   probability *including it* exceeds top_p (the most likely token always stays);
3. temperature (at least 1e-5) divides the kept logits; softmax gives the probabilities;
4. the token is argmax(probs / q) with q ~ Exponential(1), one draw per vocabulary entry (a Gumbel-style
   draw that needs no device sync).

The reference turns temperature, top_p and the penalty into bfloat16 scalars before using them (0.7 becomes
0.69921875); we round the same way. Each row draws its exponentials from its own torch.Generator with one call
of the same size and dtype as the reference's, so a request seeded with s draws exactly the numbers a
reference run after torch.manual_seed(s) draws, whichever other requests share the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from tts_server.engines.base import SamplingParams

MIN_TEMPERATURE = 1e-5
# Where a request names none (the engine's docstring lists them).
DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_REPETITION_PENALTY = 0.7, 0.8, 1.1


@dataclass(frozen=True, slots=True)
class SamplingSettings:
    temperature: float
    top_p: float
    repetition_penalty: float


VOICE_SAMPLING = SamplingSettings(DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_REPETITION_PENALTY)


def sampling_settings(params: SamplingParams) -> SamplingSettings:
    """A request's sampling parameters, with the defaults where it names none."""
    return SamplingSettings(
        temperature=DEFAULT_TEMPERATURE if params.temperature is None else params.temperature,
        top_p=DEFAULT_TOP_P if params.top_p is None else params.top_p,
        repetition_penalty=(
            DEFAULT_REPETITION_PENALTY if params.repetition_penalty is None else params.repetition_penalty
        ),
    )


@dataclass(frozen=True, slots=True)
class RowParams:
    """Per-row sampling parameters as [B, 1] tensors in the logits' dtype, rounded as the reference rounds."""

    temperature: Tensor
    top_p: Tensor
    penalty: Tensor

    @classmethod
    def of(cls, settings: Sequence[SamplingSettings], *, dtype: torch.dtype, device: torch.device) -> RowParams:
        def column(values: list[float]) -> Tensor:
            return torch.tensor(values, dtype=torch.bfloat16, device=device)[:, None]

        temperature = torch.clip(column([s.temperature for s in settings]), min=MIN_TEMPERATURE)
        return cls(
            temperature=temperature.to(dtype),
            top_p=column([s.top_p for s in settings]).to(dtype),
            penalty=column([s.repetition_penalty for s in settings]).to(dtype),
        )


def sample_rows(
    logits: Tensor, params: RowParams, generators: Sequence[torch.Generator], previous: Tensor | None = None
) -> Tensor:
    """One token per row of logits [B, V]; `previous` [B, W] are the ids the repetition penalty applies to."""
    if previous is not None:
        scores = torch.gather(logits, -1, previous)
        scores = torch.where(scores < 0, scores * params.penalty, scores / params.penalty)
        logits = logits.scatter(-1, previous, scores)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
    drop_sorted = cumulative > params.top_p
    drop_sorted[:, 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    probs = torch.softmax(logits.masked_fill(drop, float("-inf")) / params.temperature, dim=-1)
    draws = torch.empty_like(probs)
    for row, generator in enumerate(generators):
        draws[row].exponential_(1, generator=generator)
    return torch.argmax(probs / draws, dim=-1)
