"""The codec's causal transformer with window-limited attention (fish-speech's WindowLimitedTransformer).

Each position attends to itself and the `window - 1` positions before it, with rotary position embeddings. Three
of them run in S1-mini's codec: one in the encoder's last block (window 512) and one on each side of the quantizer
(window 128). Streaming keeps, per layer, the keys and values of the last `window - 1` positions and counts
positions, so a chunk sees exactly the context it would see in a whole clip.

Numerics follow the reference on purpose: its RoPE table is built in float32 and rounded to bfloat16 whatever
the model's dtype, rotation and RMSNorm run in float32, and attention goes through scaled_dot_product_attention
with a boolean mask. A checkpoint that carries its own table (freqs_cis) is used as the reference would use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_server.engines.s1.codec_layers import Streamable, StreamState
from tts_server.engines.s1.model import RMSNorm  # the same norm as the text-to-semantic model's


@dataclass(frozen=True, slots=True)
class TransformerSpec:
    """One windowed transformer's shape. `io_dim` differs from `dim` only when the block projects in and out."""

    layers: int
    dim: int
    heads: int
    head_dim: int
    ffn_dim: int
    window: int | None  # None: plain causal attention over every earlier position
    io_dim: int | None = None
    rope_base: float = 10000.0
    norm_eps: float = 1e-5


class RotaryTable:
    """cos/sin of each position's rotation angles: [positions, head_dim / 2, 2], float32 holding bf16 values.

    Rows are computed as fish-speech's precompute_freqs_cis computes them (torch.polar of float32 angles, then
    rounded to bfloat16) and grown on demand, so positions past the reference's block_size keep working.
    """

    def __init__(self, head_dim: int, base: float) -> None:
        self.head_dim = head_dim
        self.base = base
        self._table = torch.zeros(0, head_dim // 2, 2, device="cpu")  # never on meta, even when built there

    def adopt(self, table: Tensor) -> None:
        """Use a checkpoint's own table (its freqs_cis buffer) for the positions it covers."""
        expected = (self.head_dim // 2, 2)
        if table.ndim != 3 or tuple(table.shape[1:]) != expected:
            raise ValueError(f"RoPE table of shape {tuple(table.shape)}, expected [positions, {expected[0]}, 2]")
        self._table = table.detach().to("cpu", torch.float32)

    def rows(self, start: int, count: int, device: torch.device) -> Tensor:
        stop = start + count
        if stop > self._table.shape[0]:
            grown = self._compute(self._table.shape[0], max(stop, 2 * self._table.shape[0]))
            self._table = torch.cat([self._table, grown.to(self._table.device)])
        if self._table.device != device:
            self._table = self._table.to(device)
        return self._table[start:stop]

    def _compute(self, start: int, stop: int) -> Tensor:
        exponents = torch.arange(0, self.head_dim, 2, device="cpu")[: self.head_dim // 2].float() / self.head_dim
        frequencies = torch.pow(self.base, exponents).reciprocal()
        angles = torch.outer(torch.arange(start, stop, device="cpu"), frequencies)
        turns = torch.polar(torch.ones_like(angles), angles)
        return torch.stack([turns.real, turns.imag], dim=-1).to(torch.bfloat16).float()


def rotate(x: Tensor, table: Tensor) -> Tensor:
    """Rotate each (even, odd) pair of x [batch, positions, heads, head_dim] by the table's angles: table rows
    [positions, head_dim / 2, 2] shared by the batch, or [batch, positions, head_dim / 2, 2] per row."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    turns = table.view(-1, pairs.size(1), 1, pairs.size(3), 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = turns[..., 0], turns[..., 1]
    rotated = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
    return rotated.flatten(3).type_as(x)


def window_mask(queries: Tensor, keys: Tensor, window: int | None) -> Tensor:
    """True where a query position may attend to a key position: [1, 1, queries, keys] for 1-D positions, or
    [batch, 1, queries, keys] for per-row positions [batch, n]. Negative key positions are empty cache slots."""
    query, key = queries[..., :, None], keys[..., None, :]
    allowed = (key <= query) & (key >= 0)
    if window is not None:
        allowed &= key > query - window
    return allowed[None, None] if allowed.ndim == 2 else allowed[:, None]


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.heads, self.head_dim = spec.heads, spec.head_dim
        width = spec.heads * spec.head_dim
        self.wqkv = nn.Linear(spec.dim, 3 * width, bias=False)
        self.wo = nn.Linear(width, spec.dim, bias=False)

    def forward(self, x: Tensor, table: Tensor, mask: Tensor) -> Tensor:
        q, k, v = self._project(x, table)
        # Keys and values contiguous, queries a transposed view: the layouts the reference hands to SDPA.
        return self._merge(F.scaled_dot_product_attention(q, k.contiguous(), v.contiguous(), attn_mask=mask))

    def stream(self, x: Tensor, table: Tensor, mask: Tensor, held: int, state: StreamState) -> Tensor:
        """Attend from the chunk's positions over the `held` cached keys/values plus the chunk's own, then cache
        the newest `held` (a fresh stream's cache is zeros, masked out as empty slots)."""
        q, k, v = self._project(x, table)
        past_k, past_v = state.tensor(self, "k"), state.tensor(self, "v")
        if past_k is None or past_v is None:
            past_k = past_v = k.new_zeros(k.shape[0], self.heads, held, self.head_dim)
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        state.keep(self, k[:, :, k.shape[2] - held :], "k")
        state.keep(self, v[:, :, v.shape[2] - held :], "v")
        return self._merge(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))

    def _project(self, x: Tensor, table: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        batch, steps, _ = x.shape
        q, k, v = self.wqkv(x).view(batch, steps, 3, self.heads, self.head_dim).unbind(2)
        return rotate(q, table).transpose(1, 2), rotate(k, table).transpose(1, 2), v.transpose(1, 2)

    def _merge(self, y: Tensor) -> Tensor:
        batch, _, steps, _ = y.shape
        merged: Tensor = self.wo(y.transpose(1, 2).contiguous().view(batch, steps, self.heads * self.head_dim))
        return merged


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = self.w2(F.silu(self.w1(x)) * self.w3(x))
        return result


class TransformerBlock(nn.Module):
    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.attention = Attention(spec)
        self.feed_forward = FeedForward(spec.dim, spec.ffn_dim)
        self.attention_norm = RMSNorm(spec.dim, spec.norm_eps)
        self.ffn_norm = RMSNorm(spec.dim, spec.norm_eps)
        self.attention_layer_scale = LayerScale(spec.dim)
        self.ffn_layer_scale = LayerScale(spec.dim)

    def forward(self, x: Tensor, table: Tensor, mask: Tensor) -> Tensor:
        h = x + self.attention_layer_scale(self.attention(self.attention_norm(x), table, mask))
        return self._feed_forward(h)

    def stream(self, x: Tensor, table: Tensor, mask: Tensor, held: int, state: StreamState) -> Tensor:
        h = x + self.attention_layer_scale(self.attention.stream(self.attention_norm(x), table, mask, held, state))
        return self._feed_forward(h)

    def _feed_forward(self, h: Tensor) -> Tensor:
        result: Tensor = h + self.ffn_layer_scale(self.feed_forward(self.ffn_norm(h)))
        return result


class WindowedTransformer(Streamable):
    """Channels-first in and out ([batch, channels, steps]), like the convolutions around it."""

    def __init__(self, spec: TransformerSpec) -> None:
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleList(TransformerBlock(spec) for _ in range(spec.layers))
        self.norm = RMSNorm(spec.dim, spec.norm_eps)
        io_dim = spec.io_dim or spec.dim
        self.input_proj = nn.Linear(io_dim, spec.dim) if io_dim != spec.dim else None
        self.output_proj = nn.Linear(spec.dim, io_dim) if io_dim != spec.dim else None
        self.rotary = RotaryTable(spec.head_dim, spec.rope_base)

    def forward(self, x: Tensor) -> Tensor:
        h = self._enter(x)
        positions = torch.arange(h.shape[1], device=h.device)
        mask = window_mask(positions, positions, self.spec.window)
        table = self.rotary.rows(0, h.shape[1], h.device)
        for block in self._blocks():
            h = block(h, table, mask)
        return self._leave(h)

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        """The next chunk of each row of the batch; rows may be at different positions (see StreamState.stack)."""
        h = self._enter(x)
        rows, steps = h.shape[0], h.shape[1]
        starts = state.positions(self, rows)
        held = self._cached_positions(starts)
        offsets = torch.arange(steps, device=h.device)
        queries = torch.tensor(starts, device=h.device)[:, None] + offsets  # [rows, steps]
        keys = torch.cat([queries[:, :1] - held + torch.arange(held, device=h.device), queries], dim=1)
        mask = window_mask(queries, keys, self.spec.window)
        table = self.rotary.rows(0, max(starts) + steps, h.device)[queries]
        for block in self._blocks():
            h = block.stream(h, table, mask, held, state)
        state.advance(self, rows, steps)
        return self._leave(h)

    def _cached_positions(self, starts: list[int]) -> int:
        """Key/value slots each layer caches: the window's earlier positions, or every earlier one without a window
        (then all rows must be at the same position)."""
        if self.spec.window is not None:
            return self.spec.window - 1
        if len(set(starts)) > 1:
            raise ValueError("streams at different positions cannot share a batch through an unwindowed transformer")
        return starts[0]

    def _blocks(self) -> list[TransformerBlock]:
        return [block for block in self.layers if isinstance(block, TransformerBlock)]

    def _enter(self, x: Tensor) -> Tensor:
        h = x.transpose(1, 2)
        return self.input_proj(h) if self.input_proj is not None else h

    def _leave(self, h: Tensor) -> Tensor:
        h = self.norm(h)
        if self.output_proj is not None:
            h = self.output_proj(h)
        return h.transpose(1, 2)
