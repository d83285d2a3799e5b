"""S1-mini's text-to-semantic model: a DualAR transformer, written for batched decoding with per-row caches.

The slow transformer reads one token per frame: a text token, or at audio positions a semantic token plus the
sum of the frame's 10 codebook embeddings, all scaled by 1/sqrt(11). Its last hidden state (before the final
norm) feeds the fast transformer, which spells out the frame's codebooks one position at a time.

The module names follow the official checkpoint's state-dict keys (layers.N.attention.wqkv, ...), so model.pth
loads as it is. The arithmetic follows the reference where rounding decides sampled tokens: RMSNorm in float32,
RoPE tables rounded to bfloat16 (the reference builds them in bf16), RoPE applied in float32, and the fast
transformer's attention as scores x scale + mask, softmax, x values.

Caches belong to the caller (generation.BatchGenerator): `prefill` returns one request's keys and values,
`decode` writes each row's new keys and values at that row's own position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_server.engines.s1.config import S1ModelConfig, TransformerShape

# Codebooks 1-9 come from the fast transformer's logits cut to the residual codebooks' size.
RESIDUAL_CODEBOOK_SIZE = 1024


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        wide = x.float()
        normed = wide * torch.rsqrt(torch.mean(wide * wide, dim=-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class Attention(nn.Module):
    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.shape = shape
        total = (shape.n_head + 2 * shape.n_local_heads) * shape.head_dim
        self.wqkv = nn.Linear(shape.dim, total, bias=shape.qkv_bias)
        self.wo = nn.Linear(shape.n_head * shape.head_dim, shape.dim, bias=shape.o_bias)
        if shape.qk_norm:
            self.q_norm = nn.RMSNorm(shape.head_dim, eps=shape.norm_eps)
            self.k_norm = nn.RMSNorm(shape.head_dim, eps=shape.norm_eps)

    def project(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values [B, heads, L, head_dim] of x [B, L, dim], normed and rotated."""
        shape = self.shape
        batch, length, _ = x.shape
        q_size, kv_size = shape.n_head * shape.head_dim, shape.n_local_heads * shape.head_dim
        q, k, v = self.wqkv(x).split([q_size, kv_size, kv_size], dim=-1)
        q = q.view(batch, length, shape.n_head, shape.head_dim)
        k = k.view(batch, length, shape.n_local_heads, shape.head_dim)
        v = v.view(batch, length, shape.n_local_heads, shape.head_dim)
        if shape.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def output(self, attended: Tensor) -> Tensor:
        batch, _, length, _ = attended.shape
        out: Tensor = self.wo(attended.transpose(1, 2).reshape(batch, length, -1))
        return out


class FeedForward(nn.Module):
    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.w1 = nn.Linear(shape.dim, shape.intermediate_size, bias=False)
        self.w3 = nn.Linear(shape.dim, shape.intermediate_size, bias=False)
        self.w2 = nn.Linear(shape.intermediate_size, shape.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.w2(F.silu(self.w1(x)) * self.w3(x))
        return out


class Block(nn.Module):
    def __init__(self, shape: TransformerShape) -> None:
        super().__init__()
        self.attention = Attention(shape)
        self.feed_forward = FeedForward(shape)
        self.ffn_norm = RMSNorm(shape.dim, shape.norm_eps)
        self.attention_norm = RMSNorm(shape.dim, shape.norm_eps)

    def finish(self, x: Tensor, attended: Tensor) -> Tensor:
        """The block's output once its attention has been computed from attention_norm(x)."""
        h = x + self.attention.output(attended)
        out: Tensor = h + self.feed_forward(self.ffn_norm(h))
        return out


def rope_table(positions: int, head_dim: int, base: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin [positions, head_dim / 2] in float32, holding bfloat16-rounded values (as the reference)."""
    exponents = torch.arange(0, head_dim, 2, device=device)[: head_dim // 2].float() / head_dim
    freqs = 1.0 / (base**exponents)
    angles = torch.outer(torch.arange(positions, device=device), freqs)
    rotation = torch.polar(torch.ones_like(angles), angles)
    return rotation.real.to(torch.bfloat16).float(), rotation.imag.to(torch.bfloat16).float()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate consecutive pairs of x [B, L, H, D] by cos/sin [B or 1, L, 1, D/2], in float32."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return rotated.flatten(3).type_as(x)


def blocks(layers: nn.ModuleList) -> list[Block]:
    return cast(list[Block], list(layers))


@dataclass(slots=True)
class PrefillResult:
    logits: Tensor  # [vocab] for the prompt's last position
    hidden: Tensor  # [fast_dim], the fast transformer's input for the first frame
    keys: list[Tensor]  # per slow layer: [kv_heads, T, head_dim]
    values: list[Tensor]


class DualARModel(nn.Module):
    """The slow (text + semantic) and fast (codebook) transformers of S1-mini."""

    def __init__(self, config: S1ModelConfig, *, semantic_begin_id: int, semantic_end_id: int) -> None:
        super().__init__()
        self.config = config
        self.semantic_begin_id, self.semantic_end_id = semantic_begin_id, semantic_end_id
        slow, fast = config.slow, config.fast
        self.slow_shape, self.fast_shape = slow, fast
        self.embeddings = nn.Embedding(config.vocab_size, slow.dim)
        self.codebook_embeddings = nn.Embedding(config.codebook_size * config.num_codebooks, slow.dim)
        self.layers = nn.ModuleList(Block(slow) for _ in range(config.n_layer))
        self.norm = RMSNorm(slow.dim, slow.norm_eps)
        if not config.tie_word_embeddings:
            self.output = nn.Linear(slow.dim, config.vocab_size, bias=False)
        self.fast_project_in: nn.Module = nn.Linear(slow.dim, fast.dim) if fast.dim != slow.dim else nn.Identity()
        self.fast_embeddings = nn.Embedding(config.codebook_size, fast.dim)
        self.fast_layers = nn.ModuleList(Block(fast) for _ in range(config.n_fast_layer))
        self.fast_norm = RMSNorm(fast.dim, fast.norm_eps)
        self.fast_output = nn.Linear(fast.dim, config.codebook_size, bias=False)
        self.rope: tuple[Tensor, Tensor] | None = None
        self.fast_rope: tuple[Tensor, Tensor] | None = None

    @property
    def num_codebooks(self) -> int:
        return self.config.num_codebooks

    def init_rope(self, device: torch.device) -> None:
        """Build the RoPE tables on `device` (after the weights are loaded: a meta-built model has none)."""
        slow, fast = self.slow_shape, self.fast_shape
        self.rope = rope_table(self.config.max_seq_len, slow.head_dim, slow.rope_base, device)
        self.fast_rope = rope_table(self.config.num_codebooks, fast.head_dim, fast.rope_base, device)

    # --- the slow transformer ------------------------------------------------------------------------------

    def embed(self, tokens: Tensor) -> Tensor:
        """x [B, L, dim] for tokens [B, 1 + codebooks, L] (row 0 token ids, rows 1.. codes)."""
        ids, codes = tokens[:, 0], tokens[:, 1:]
        offsets = torch.arange(self.num_codebooks, device=tokens.device)[None, :, None] * self.config.codebook_size
        codebook_sum = self.codebook_embeddings(codes + offsets).sum(dim=1)
        semantic = ((ids >= self.semantic_begin_id) & (ids <= self.semantic_end_id))[..., None]
        x: Tensor = self.embeddings(ids) + torch.where(semantic, codebook_sum, torch.zeros_like(codebook_sum))
        if self.config.scale_codebook_embeddings:
            x = torch.where(semantic, x / math.sqrt(self.num_codebooks + 1), x)
        return x

    def logits(self, x: Tensor) -> Tensor:
        normed = self.norm(x)
        if self.config.tie_word_embeddings:
            tied: Tensor = F.linear(normed, self.embeddings.weight)
            return tied
        out: Tensor = self.output(normed)
        return out

    def prefill(self, tokens: Tensor, *, all_logits: bool = False) -> PrefillResult:
        """One prompt [1 + codebooks, T] through the slow transformer, causally."""
        assert self.rope is not None, "init_rope first"
        length = tokens.shape[1]
        x = self.embed(tokens[None])
        cos, sin = (table[:length][None, :, None] for table in self.rope)
        keys, values = [], []
        for layer in blocks(self.layers):
            q, k, v = layer.attention.project(layer.attention_norm(x), cos, sin)
            keys.append(k[0])
            values.append(v[0])
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = layer.finish(x, attended)
        logits = self.logits(x[0] if all_logits else x[0, -1])
        return PrefillResult(logits, self.fast_project_in(x[0, -1]), keys, values)

    def decode(
        self, tokens: Tensor, positions: Tensor, keys: list[Tensor], values: list[Tensor], span: int
    ) -> tuple[Tensor, Tensor]:
        """One frame per row: tokens [B, 1 + codebooks] at `positions` [B]. Writes each row's keys and values
        into rows 0..B-1 of the caches [rows, kv_heads, time, head_dim] and attends to the first `span`
        positions up to its own. Returns logits [B, vocab] and the fast transformer's input [B, fast_dim]."""
        assert self.rope is not None, "init_rope first"
        batch = tokens.shape[0]
        x = self.embed(tokens[:, :, None])
        cos, sin = (table[positions][:, None, None] for table in self.rope)
        rows = torch.arange(batch, device=tokens.device)
        visible = (torch.arange(span, device=tokens.device)[None, :] <= positions[:, None])[:, None, None, :]
        for layer, cache_k, cache_v in zip(blocks(self.layers), keys, values, strict=True):
            q, k, v = layer.attention.project(layer.attention_norm(x), cos, sin)
            cache_k[rows, :, positions] = k[:, :, 0]
            cache_v[rows, :, positions] = v[:, :, 0]
            attended = F.scaled_dot_product_attention(
                q, cache_k[:batch, :, :span], cache_v[:batch, :, :span], attn_mask=visible, enable_gqa=True
            )
            x = layer.finish(x, attended)
        return self.logits(x[:, 0]), self.fast_project_in(x[:, 0])

    # --- the fast transformer ------------------------------------------------------------------------------

    def new_fast_cache(self, batch: int, device: torch.device, dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
        fast = self.fast_shape
        shape = (batch, fast.n_local_heads, self.num_codebooks, fast.head_dim)
        return [(torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))
                for _ in self.fast_layers]  # fmt: skip

    def fast_step(self, x: Tensor, position: Tensor, cache: list[tuple[Tensor, Tensor]]) -> Tensor:
        """x [B, fast_dim] at fast `position` (a 0-d long tensor; 0: the slow hidden state, n: codebook n-1's
        embedding); returns logits [B, codebook_size] for codebook `position`. A tensor, not an int, so one
        compiled graph serves every position."""
        assert self.fast_rope is not None, "init_rope first"
        fast = self.fast_shape
        hidden = x[:, None]
        index = position.view(1)
        cos, sin = (table.index_select(0, index).view(1, 1, 1, -1) for table in self.fast_rope)
        # Positions after `position` hold zeros from an earlier frame or none: masked, as in the reference.
        later = torch.arange(self.num_codebooks, device=x.device) > position
        mask = torch.zeros(1, 1, 1, self.num_codebooks, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill(later, float("-inf"))
        groups = fast.n_head // fast.n_local_heads
        for layer, (cache_k, cache_v) in zip(blocks(self.fast_layers), cache, strict=True):
            q, k, v = layer.attention.project(layer.attention_norm(hidden), cos, sin)
            cache_k.index_copy_(2, index, k)
            cache_v.index_copy_(2, index, v)
            keys = cache_k.repeat_interleave(groups, dim=1)
            values = cache_v.repeat_interleave(groups, dim=1)
            scores = q @ keys.transpose(-2, -1) * (1 / math.sqrt(fast.head_dim)) + mask
            hidden = layer.finish(hidden, torch.softmax(scores, dim=-1) @ values)
        out: Tensor = self.fast_output(self.fast_norm(hidden[:, 0]))
        return out

    def codebook_zero(self, main_tokens: Tensor) -> Tensor:
        """Codebook 0 of frames whose main token is `main_tokens` [B]: the semantic code, or 0 for any other
        token (the reference maps tokens before the semantic range to 0; after it, we do too)."""
        code = main_tokens - self.semantic_begin_id
        return torch.where((code >= 0) & (code < self.config.codebook_size), code, torch.zeros_like(code))
