"""Dia's sampling, row-wise with per-row parameters, in the order transformers' Dia generation applies it.

`DiaForConditionalGeneration.generate()` runs these logits processors, in this order (transformers 4.53+):

1. DiaClassifierFreeGuidanceLogitsProcessor: guided = cond + (cond - uncond) * scale; its top-k tokens are the
   candidates, and what is kept of them is the *conditional* logits (Dia's "CFG filter");
2. TemperatureLogitsWarper;
3. DiaEOSChannelFilterLogitsProcessor: EOS and the special tokens above it are impossible in channels 1..,
   tokens above EOS in channel 0; EOS stays only when it is channel 0's best token, and then alone;
4. TopKLogitsWarper (a no-op after 1) and TopPLogitsWarper;
5. DiaEOSDelayPatternLogitsProcessor: the EOS tail of the later channels, which `dia.delay.DelayedGrid` keeps.

The candidates of step 1 are chosen before step 3 removes the special tokens, so a small top-k can lose every
candidate of a channel; greedy decoding then takes token 0 (the argmax of a row of -inf), as transformers and
Dia's own code do, and so does sampling here (where transformers would fail on a distribution of NaN).

Two deliberate differences: temperature 0 means greedy (transformers' `do_sample=False`), and a temperature
below 1 is honoured (transformers clamps it to 1.0 for Dia; Dia's own code honours it).
"""

from __future__ import annotations

import torch


def guided_candidates(
    cond: torch.Tensor, uncond: torch.Tensor, top_k: torch.Tensor, cfg_scale: torch.Tensor
) -> torch.Tensor:
    """Step 1: the conditional logits of the top-k tokens of the guided logits, -inf elsewhere. [n, C, V]."""
    vocab = cond.shape[-1]
    guided = cond + (cond - uncond) * cfg_scale[:, None, None]
    k = top_k.clamp(1, vocab)
    ranked = guided.topk(int(k.max()), dim=-1).indices  # per-row k: rank beyond the row's own k is dropped
    outside = torch.arange(ranked.shape[-1], device=cond.device)[None, None, :] >= k[:, None, None]
    keep = torch.zeros_like(cond, dtype=torch.bool).scatter(-1, ranked, ~outside.expand_as(ranked))
    return cond.masked_fill(~keep, float("-inf"))


def filter_eos(logits: torch.Tensor, eos: int) -> torch.Tensor:
    """Step 3: only channel 0 may end, and only when EOS is its best token (then nothing else may be drawn)."""
    impossible = torch.zeros(logits.shape[1:], dtype=torch.bool, device=logits.device)
    impossible[1:, eos:] = True
    impossible[0, eos + 1 :] = True
    logits = logits.masked_fill(impossible, float("-inf"))
    eos_best = (logits.argmax(dim=-1) == eos)[..., None]
    token = torch.arange(logits.shape[-1], device=logits.device)
    logits = logits.masked_fill(eos_best & (token < eos), float("-inf"))
    return logits.masked_fill(~eos_best & (token == eos), float("-inf"))


def filter_top_p(logits: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Step 4: drop the least likely tokens whose probabilities add up to at most 1 - top_p (keeping at least
    one), computed as TopPLogitsWarper computes it, so the kept set is the same to the last bit. `top_p` should
    be float64: transformers forms 1 - top_p in double precision. Rows with top_p >= 1 are left alone."""
    ascending, order = logits.sort(dim=-1, descending=False)
    cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
    drop = cumulative <= (1 - top_p.double()).to(logits.dtype)[:, None, None]
    drop[..., -1] = False
    drop &= (top_p < 1)[:, None, None]
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


def sampling_logits(
    cond: torch.Tensor,
    uncond: torch.Tensor,
    *,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    top_k: torch.Tensor,
    cfg_scale: torch.Tensor,
    eos: int,
) -> torch.Tensor:
    """The logits each row draws from (softmax gives the distribution): steps 1-4. cond/uncond [n, C, V] float32.
    Greedy rows (temperature <= 0) skip the temperature and top-p, which cannot change their argmax."""
    greedy = temperature <= 0
    logits = guided_candidates(cond, uncond, top_k, cfg_scale)
    logits = logits / torch.where(greedy, 1.0, temperature)[:, None, None]
    logits = filter_eos(logits, eos)
    return filter_top_p(logits, torch.where(greedy, 1.0, top_p))


def sample_next(
    cond: torch.Tensor,
    uncond: torch.Tensor,
    *,
    temperature: torch.Tensor,
    top_p: torch.Tensor,
    top_k: torch.Tensor,
    cfg_scale: torch.Tensor,
    uniforms: torch.Tensor,
    eos: int,
) -> torch.Tensor:
    """Next tokens [n, C]: argmax for greedy rows, else an inverse-CDF draw with the row's own `uniforms` [n, C]
    (so a row's tokens never depend on the other rows of the batch)."""
    logits = sampling_logits(
        cond, uncond, temperature=temperature, top_p=top_p, top_k=top_k, cfg_scale=cfg_scale, eos=eos
    )
    best = logits.argmax(dim=-1)
    probs = torch.softmax(logits, dim=-1).nan_to_num_(0.0)  # a row with no candidate left: all NaN
    cdf = probs.cumsum(-1)
    draws = (uniforms * cdf[..., -1]).unsqueeze(-1)
    sampled = torch.searchsorted(cdf, draws, right=True).squeeze(-1)
    last_possible = probs.shape[-1] - 1 - (probs.flip(-1) > 0).int().argmax(-1)  # rounding at the top end
    sampled = torch.minimum(sampled, last_possible)
    drawable = probs.sum(-1) > 0
    return torch.where((temperature <= 0)[:, None] | ~drawable, best, sampled)
