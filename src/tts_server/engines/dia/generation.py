"""Batched Dia decoding: requests join and leave the batch between decoding steps.

transformers' `generate()` decodes one batch from start to end with one set of sampling parameters. To let a
request join a running batch, this module runs Dia's decoder itself over the model's own layers, with a KV cache
where every request has its own length and position:

- a request is two rows, conditional (its text) and unconditional (all-pad text), for classifier-free guidance;
- slots are packed at the front of preallocated cache tensors; a request that leaves is swapped with the last;
- self-attention keys beyond a row's own length are masked, so rows of different lengths share one step;
- each request samples with its own temperature/top-p/top-k/CFG scale and its own torch.Generator, and every
  sampling operation is row-wise, so a seed gives the same tokens whatever else is in the batch (bit-exact on
  CPU; on GPU, batch-size-dependent matmul kernels can differ in the last bit).

The sampler (the order and arithmetic of transformers' Dia logits processors) is `dia.sampling`; the delay
pattern, forced prompt tokens and EOS bookkeeping live in `dia.delay.DelayedGrid`, on the CPU. With
torch.compile (`dia.compile`) the caches are allocated once at full size and each step is padded to a batch
bucket. Whole generations equal transformers' `generate()` (tests/engines/dia/test_dia_reference.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from transformers.models.dia.modeling_dia import apply_rotary_pos_emb

from tts_server.engines.dia.compile import batch_buckets, begin_step, bucket_for, compile_step, keep_addresses
from tts_server.engines.dia.sampling import sample_next

RowT = TypeVar("RowT")
_TIME_BLOCK = 256  # cache time capacity grows in blocks, so reallocations stay rare
_SPAN_BLOCK = 16


@dataclass(frozen=True, slots=True)
class RowSampling:
    temperature: float
    top_p: float
    top_k: int
    cfg_scale: float
    seed: int


@dataclass(slots=True)
class _Slot(Generic[RowT]):
    row: RowT
    length: int  # cached positions = position of the next input
    sampling: RowSampling
    generator: torch.Generator


@dataclass(frozen=True, slots=True)
class EncodedText:
    """Cross-attention keys/values of one request's text (conditional and unconditional rows)."""

    keys: list[torch.Tensor]  # per decoder layer: [2, heads, text_len, head_dim]
    values: list[torch.Tensor]
    text_len: int


class BatchDecoder(Generic[RowT]):
    """Owns the KV caches of the requests being decoded, each with a caller-side row object `RowT`."""

    def __init__(self, model: Any, *, compile_step: bool = False, max_requests: int = 8) -> None:
        self.model = model
        self.max_requests = max_requests  # the compiled step's largest batch (eager: a guide, not a limit)
        self.device: torch.device = model.device
        self.dtype: torch.dtype = model.dtype
        decoder_config = model.config.decoder_config
        self.channels: int = decoder_config.num_channels
        self.vocab: int = decoder_config.vocab_size
        self.eos: int = decoder_config.eos_token_id
        self.max_positions: int = decoder_config.max_position_embeddings
        self.max_text: int = model.config.encoder_config.max_position_embeddings
        self._decoder = model.model.decoder
        self._encoder = model.model.encoder
        self._kv_heads: int = decoder_config.num_key_value_heads
        self._head_dim: int = decoder_config.head_dim
        self._cross_heads: int = decoder_config.cross_num_attention_heads
        self._cross_dim: int = decoder_config.cross_head_dim
        self._slots: list[_Slot[RowT]] = []
        self._reset_caches()
        self._step_fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] = self._forward_step
        self.compiled = False
        self.buckets: list[int] = []  # batch sizes the compiled step runs at
        if compile_step:
            self.enable_compile()

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def rows(self) -> list[RowT]:
        """The requests in the batch, in slot order."""
        return [slot.row for slot in self._slots]

    def enable_compile(self) -> None:
        """torch.compile the decoding step (dia.compile): the caches grow to full size at fixed addresses (for
        `max_requests`), and each step runs at a batch bucket over the whole window. Requests already decoding
        keep their caches."""
        if self.compiled:
            return
        self._ensure_capacity(self.max_requests, self.max_positions, self.max_text)
        keep_addresses([*self._self_k, *self._self_v, *self._cross_k, *self._cross_v, self._cross_len], self.device)
        self._step_fn = compile_step(self._forward_step, self.device)
        self.buckets = batch_buckets(self.max_requests)
        self.compiled = True

    def _reset_caches(self) -> None:
        self._self_k: list[torch.Tensor] = []
        self._self_v: list[torch.Tensor] = []
        self._cross_k: list[torch.Tensor] = []
        self._cross_v: list[torch.Tensor] = []
        self._cross_len = torch.zeros(0, dtype=torch.long, device=self.device)

    # --- joining ------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def encode(self, token_ids: list[int]) -> EncodedText:
        """Run the text encoder for a request (its text and the unconditional all-pad text)."""
        ids = torch.tensor([token_ids], dtype=torch.long, device=self.device)
        ids = torch.cat([ids, torch.zeros_like(ids)])
        hidden = self._encoder(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
        keys, values = [], []
        for layer in self._decoder.layers:
            cross = layer.cross_attention
            shape = (2, len(token_ids), self._cross_heads, self._cross_dim)
            keys.append(cross.k_proj(hidden).view(shape).transpose(1, 2))
            values.append(cross.v_proj(hidden).view(shape).transpose(1, 2))
        return EncodedText(keys, values, len(token_ids))

    @torch.inference_mode()
    def add(self, row: RowT, text: EncodedText, prefix: NDArray[np.int64], sampling: RowSampling) -> None:
        """Join a request: prefill its audio prefix (if any) and place its caches in the next free slot."""
        if len(prefix) + 1 >= self.max_positions:
            raise ValueError("the audio prompt fills Dia's whole context window")
        self_kv = self._prefill(text, prefix) if len(prefix) else None
        slot = len(self._slots)
        self._ensure_capacity(slot + 1, len(prefix) + 1, text.text_len)
        rows = slice(2 * slot, 2 * slot + 2)
        for layer in range(len(self._self_k)):
            self._cross_k[layer][rows, :, : text.text_len] = text.keys[layer]
            self._cross_v[layer][rows, :, : text.text_len] = text.values[layer]
            if self_kv is not None:
                self._self_k[layer][rows, :, : len(prefix)] = self_kv[layer][0]
                self._self_v[layer][rows, :, : len(prefix)] = self_kv[layer][1]
        self._cross_len[rows] = text.text_len
        generator = torch.Generator(device=self.device)
        generator.manual_seed(sampling.seed)
        self._slots.append(_Slot(row, len(prefix), sampling, generator))

    def remove(self, row: RowT) -> None:
        """Leave the batch: the last request moves into the freed slot."""
        slot = self.rows.index(row)
        last = len(self._slots) - 1
        if slot != last:
            src, dst = slice(2 * last, 2 * last + 2), slice(2 * slot, 2 * slot + 2)
            with torch.inference_mode():
                for caches in (self._self_k, self._self_v, self._cross_k, self._cross_v):
                    for cache in caches:
                        cache[dst] = cache[src]
                self._cross_len[dst] = self._cross_len[src]
            self._slots[slot] = self._slots[last]
        self._slots.pop()
        if not self._slots and not self.compiled:  # compiled: the caches keep their addresses
            self._reset_caches()

    def _ensure_capacity(self, requests: int, time: int, text_len: int) -> None:
        have_rows = self._self_k[0].shape[0] if self._self_k else 0
        have_time = self._self_k[0].shape[2] if self._self_k else 0
        have_text = self._cross_k[0].shape[2] if self._cross_k else 0
        if 2 * requests <= have_rows and time <= have_time and text_len <= have_text:
            return
        if self.compiled:
            raise ValueError(f"the compiled Dia step holds at most {self.max_requests} requests")
        new_rows = max(2 * requests, min(have_rows * 2, 2 * self.max_requests), 2)
        new_time = min(self.max_positions, max(have_time, -(-time // _TIME_BLOCK) * _TIME_BLOCK))
        new_text = max(have_text, text_len)
        layers = len(self._decoder.layers)

        def grow(old: list[torch.Tensor], heads: int, length: int, dim: int) -> list[torch.Tensor]:
            grown = []
            for layer in range(layers):
                tensor = torch.zeros(new_rows, heads, length, dim, dtype=self.dtype, device=self.device)
                if old:
                    rows, _, span, _ = old[layer].shape
                    tensor[:rows, :, :span] = old[layer]
                grown.append(tensor)
            return grown

        self._self_k = grow(self._self_k, self._kv_heads, new_time, self._head_dim)
        self._self_v = grow(self._self_v, self._kv_heads, new_time, self._head_dim)
        self._cross_k = grow(self._cross_k, self._cross_heads, new_text, self._cross_dim)
        self._cross_v = grow(self._cross_v, self._cross_heads, new_text, self._cross_dim)
        cross_len = torch.zeros(new_rows, dtype=torch.long, device=self.device)
        cross_len[: len(self._cross_len)] = self._cross_len
        self._cross_len = cross_len

    def _prefill(self, text: EncodedText, prefix: NDArray[np.int64]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys/values of the prefix positions for one request's two rows, with a causal mask."""
        tokens = torch.as_tensor(prefix, device=self.device)[None].expand(2, -1, -1)
        positions = torch.arange(len(prefix), device=self.device)[None].expand(2, -1)
        hidden = self._decoder.embeddings(tokens)
        cos, sin = self._decoder.rotary_emb(hidden, position_ids=positions)
        out: list[tuple[torch.Tensor, torch.Tensor]] = []
        for index, layer in enumerate(self._decoder.layers):
            q, k, v = self._self_qkv(layer, hidden, cos, sin)
            out.append((k, v))
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0, enable_gqa=True)
            hidden = self._after_self_attention(layer, hidden, attended, text.keys[index], text.values[index], None)
        return out

    # --- stepping -----------------------------------------------------------------------------------------

    @torch.inference_mode()
    def step(self, tokens: NDArray[np.int64]) -> NDArray[np.int64]:
        """One decoding step for every request in the batch: `tokens` [n, C] are the inputs, returns the
        sampled tokens [n, C] for the next position of each request."""
        slots = self._slots
        n = len(slots)
        lengths = [slot.length for slot in slots]
        if self.compiled:  # one static shape per bucket: idle rows (token 0 at position 0) and the whole window
            idle = bucket_for(n, self.buckets) - n
            tokens = np.concatenate([tokens, np.zeros((idle, self.channels), dtype=np.int64)])
            lengths, span = lengths + [0] * idle, self.max_positions
            begin_step(self.device)
        else:  # attended positions, rounded up a little (extra keys are masked)
            span = min(self.max_positions, -(-(max(lengths) + 1) // _SPAN_BLOCK) * _SPAN_BLOCK)
        inputs = torch.as_tensor(tokens, device=self.device).repeat_interleave(2, dim=0)[:, None, :]
        positions = torch.tensor(lengths, device=self.device).repeat_interleave(2)
        self._ensure_capacity(n, span, 0)
        out = self._step_fn(inputs, positions, span)
        logits = out[: 2 * n].float().view(n, 2, self.channels, self.vocab)
        params = [slot.sampling for slot in slots]
        sampled = sample_next(
            logits[:, 0],
            logits[:, 1],
            temperature=self._param([p.temperature for p in params]),
            top_p=self._param([p.top_p for p in params], torch.float64),  # as transformers forms 1 - top_p
            top_k=torch.tensor([p.top_k for p in params], device=self.device),
            cfg_scale=self._param([p.cfg_scale for p in params]),
            uniforms=torch.stack(
                [torch.rand(self.channels, generator=slot.generator, device=self.device) for slot in slots]
            ),
            eos=self.eos,
        )
        for slot in slots:
            slot.length += 1
        result: NDArray[np.int64] = sampled.cpu().numpy()
        return result

    def _param(self, values: list[float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype, device=self.device)

    def _forward_step(self, inputs: torch.Tensor, positions: torch.Tensor, span: int) -> torch.Tensor:
        """Decoder forward for one new position per row; returns logits [2n, C * V]."""
        rows = inputs.shape[0]
        hidden = self._decoder.embeddings(inputs)
        cos, sin = self._decoder.rotary_emb(hidden, position_ids=positions[:, None])
        row_index = torch.arange(rows, device=inputs.device)
        self_mask = (torch.arange(span, device=inputs.device)[None, :] <= positions[:, None])[:, None, None, :]
        text_span = self._cross_k[0].shape[2]
        cross_len = self._cross_len[:rows].clamp(min=1)  # an idle row attends to something: no NaN
        cross_mask = (torch.arange(text_span, device=inputs.device)[None, :] < cross_len[:, None])[:, None, None, :]
        for index, layer in enumerate(self._decoder.layers):
            q, k, v = self._self_qkv(layer, hidden, cos, sin)
            cache_k, cache_v = self._self_k[index], self._self_v[index]
            cache_k[row_index, :, positions] = k[:, :, 0]
            cache_v[row_index, :, positions] = v[:, :, 0]
            attended = F.scaled_dot_product_attention(
                q, cache_k[:rows, :, :span], cache_v[:rows, :, :span], attn_mask=self_mask, scale=1.0, enable_gqa=True
            )
            hidden = self._after_self_attention(
                layer, hidden, attended, self._cross_k[index][:rows], self._cross_v[index][:rows], cross_mask
            )
        hidden = self._decoder.norm(hidden)
        logits: torch.Tensor = self.model.logits_dense(hidden[:, -1])
        return logits

    def _self_qkv(
        self, layer: Any, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        attention = layer.self_attention
        normed = layer.pre_sa_norm(hidden)
        shape = (*hidden.shape[:-1], -1, self._head_dim)
        q = attention.q_proj(normed).view(shape).transpose(1, 2)
        k = attention.k_proj(normed).view(shape).transpose(1, 2)
        v = attention.v_proj(normed).view(shape).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        return q, k, v

    def _after_self_attention(
        self,
        layer: Any,
        hidden: torch.Tensor,
        attended: torch.Tensor,
        cross_k: torch.Tensor,
        cross_v: torch.Tensor,
        cross_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Residual self-attention output, cross-attention over the text, then the MLP."""
        batch, length = hidden.shape[:2]
        hidden = hidden + layer.self_attention.o_proj(attended.transpose(1, 2).reshape(batch, length, -1))
        cross = layer.cross_attention
        q = cross.q_proj(layer.pre_ca_norm(hidden)).view(batch, length, -1, self._cross_dim).transpose(1, 2)
        attended = F.scaled_dot_product_attention(q, cross_k, cross_v, attn_mask=cross_mask, scale=1.0, enable_gqa=True)
        hidden = hidden + cross.o_proj(attended.transpose(1, 2).reshape(batch, length, -1))
        mlp_out: torch.Tensor = layer.mlp(layer.pre_mlp_norm(hidden))
        return hidden + mlp_out
