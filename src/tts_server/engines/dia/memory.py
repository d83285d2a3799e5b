"""How many requests Dia can decode at once in the memory left after loading: the batch is sized, not hoped for.

A request in the batch holds (two rows: its text and the unconditional CFG row):

- the self-attention KV cache at the full window: layers x 2 (K, V) x 2 rows x KV heads x window x head dim;
- the cross-attention KV cache of its text at the encoder's longest (rows share the batch's longest text):
  layers x 2 x 2 rows x cross heads x text positions x cross head dim;
- a step's transients: the logits and the sampler's copies of them (float32, [channels, vocab] a dozen
  times), and one layer's attention scores over the window.

Besides, one at a time in the worker thread, the largest of: prefilling an audio prompt of the longest
accepted reference (every layer's K/V for it, the MLP activations, and the attention scores of a math-path
attention), the text encoder on the longest text, and the codec (encoding that reference, decoding a stored
voice prompt whole, or a streaming window), whose activations peak at ~6 float32 tensors of the encoder's
first width (encoding) or the decoder's width / 2^stages (decoding) channels at the sample rate (measured on
the 44.1 kHz DAC: 1.2-1.5 kB per sample encoding, 2.1-2.4 kB decoding). And a margin for the allocator: 5% of
what is free, at least 512 MiB.

On CUDA "free" is `torch.cuda.mem_get_info` after loading; on CPU, the system's available memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from tts_server.engines.dia.voices import MAX_PROMPT_SECONDS

log = logging.getLogger(__name__)

MIB = 1 << 20
_CODEC_LIVE_TENSORS = 6
_SAMPLER_COPIES = 12  # float32/int64 [channels, vocab] tensors alive while a row is sampled (sort, cumsum, ...)
_MARGIN_SHARE, _MARGIN_MIN = 0.05, 512 * MIB


@dataclass(frozen=True, slots=True)
class BatchMemory:
    """The arithmetic behind a batch size: what one request needs and what is kept aside, in bytes."""

    free: int
    per_request: int
    reserved: int
    ceiling: int  # TTS_DIA_MAX_BATCH

    @property
    def fits(self) -> int:
        return max(0, (self.free - self.reserved) // self.per_request)

    @property
    def max_batch(self) -> int:
        """The batch the engine uses: what fits, at most the ceiling, at least 1 (short texts may still fit)."""
        return max(1, min(self.ceiling, self.fits))

    def describe(self) -> str:
        return (
            f"{self.free / MIB:,.0f} MiB free, {self.reserved / MIB:,.0f} MiB kept aside, "
            f"{self.per_request / MIB:,.1f} MiB per request: {self.fits} fit, batch {self.max_batch} "
            f"(TTS_DIA_MAX_BATCH {self.ceiling})"
        )


def kv_cache_bytes(config: Any, dtype_bytes: int) -> int:
    """One request's self- and cross-attention caches at the full window and the longest text."""
    decoder = config.decoder_config
    window, text = decoder.max_position_embeddings, config.encoder_config.max_position_embeddings
    rows = 2
    self_kv = 2 * decoder.num_hidden_layers * rows * decoder.num_key_value_heads * window * decoder.head_dim
    cross_kv = 2 * decoder.num_hidden_layers * rows * decoder.cross_num_attention_heads * text * decoder.cross_head_dim
    return int((self_kv + cross_kv) * dtype_bytes)


def step_bytes(config: Any, dtype_bytes: int) -> int:
    """One request's transients in a decoding step."""
    decoder = config.decoder_config
    rows, logits = 2, decoder.num_channels * decoder.vocab_size
    sampler = rows * logits * (dtype_bytes + 4) + _SAMPLER_COPIES * logits * 8
    scores = rows * decoder.num_attention_heads * decoder.max_position_embeddings * 4
    mlp = rows * decoder.intermediate_size * dtype_bytes * 3
    return int(sampler + scores + mlp)


def request_bytes(config: Any, dtype_bytes: int) -> int:
    return kv_cache_bytes(config, dtype_bytes) + step_bytes(config, dtype_bytes)


def prefill_bytes(config: Any, dtype_bytes: int, frames: int) -> int:
    """Prefilling an audio prompt of `frames` for one request (both rows)."""
    decoder = config.decoder_config
    rows = 2
    kv = 2 * decoder.num_hidden_layers * rows * decoder.num_key_value_heads * frames * decoder.head_dim * dtype_bytes
    activations = rows * frames * (decoder.hidden_size * 4 + decoder.intermediate_size * 3) * dtype_bytes
    scores = rows * decoder.num_attention_heads * frames * frames * 4  # a math-path attention's float32 scores
    return int(kv + activations + scores)


def encoder_bytes(config: Any, dtype_bytes: int) -> int:
    encoder = config.encoder_config
    rows, text = 2, encoder.max_position_embeddings
    activations = rows * text * (encoder.hidden_size * 4 + encoder.intermediate_size * 3) * dtype_bytes
    return int(activations + rows * encoder.num_attention_heads * text * text * 4)


def codec_bytes(codec_config: Any, samples: int, *, encoding: bool) -> int:
    """The DAC (float32) encoding or decoding `samples` of audio in one pass: its widest stage runs at the sample
    rate, with the encoder's first width, or the decoder's width halved at each upsampling stage."""
    stages = len(codec_config.upsampling_ratios)
    channels = codec_config.encoder_hidden_size if encoding else codec_config.decoder_hidden_size >> stages
    return int(_CODEC_LIVE_TENSORS * channels * samples * 4)


def reserved_bytes(config: Any, codec_config: Any, dtype_bytes: int, *, prompt_frames: int, window_frames: int) -> int:
    """What one-at-a-time work needs at its peak: the largest of the prompt prefill, the text encoder and the
    codec's passes (the longest reference encoded, a stored voice prompt decoded whole, a streaming window)."""
    rate, hop = int(codec_config.sampling_rate), int(codec_config.hop_length)
    reference_frames = int(MAX_PROMPT_SECONDS * rate / hop) + 1
    return max(
        prefill_bytes(config, dtype_bytes, reference_frames + 1),
        encoder_bytes(config, dtype_bytes),
        codec_bytes(codec_config, int(MAX_PROMPT_SECONDS * rate), encoding=True),
        codec_bytes(codec_config, prompt_frames * hop, encoding=False),
        codec_bytes(codec_config, window_frames * hop, encoding=False),
    )


def free_memory(device: torch.device) -> int:
    """Bytes free for Dia's caches now: on CUDA what the driver reports, on CPU the system's available memory."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def plan_batch(
    model: Any, codec: Any, device: torch.device, *, ceiling: int, prompt_frames: int, window_frames: int
) -> BatchMemory:
    """The batch Dia can hold on `device` now (call after loading the model and the codec)."""
    dtype_bytes = torch.finfo(model.dtype).bits // 8
    config = model.config
    reserved = reserved_bytes(
        config, codec.config, dtype_bytes, prompt_frames=prompt_frames, window_frames=window_frames
    )
    free = free_memory(device)
    reserved += max(_MARGIN_MIN, int(free * _MARGIN_SHARE))
    plan = BatchMemory(free, request_bytes(config, dtype_bytes), reserved, ceiling)
    if plan.fits < ceiling:
        log.warning("Dia's batch is limited by memory on %s: %s", device, plan.describe())
    else:
        log.info("Dia's batch on %s: %s", device, plan.describe())
    return plan
