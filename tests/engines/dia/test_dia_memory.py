"""Sizing Dia's batch from free memory: the arithmetic on the real architecture, the caches it predicts against
the caches the decoder really allocates, the CPU path, and the figure the runner takes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import DacConfig, DiaConfig

from tests.engines.dia.conftest import make_runner, started
from tts_server.engines.dia import memory as dia_memory
from tts_server.engines.dia.generation import BatchDecoder, RowSampling
from tts_server.engines.dia.loading import DiaBundle
from tts_server.engines.dia.memory import (
    BatchMemory,
    codec_bytes,
    kv_cache_bytes,
    plan_batch,
    request_bytes,
    reserved_bytes,
)

MIB, GIB = 1 << 20, 1 << 30
DAC_44K = DacConfig(
    downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=1536, n_codebooks=9, codebook_dim=8, sampling_rate=44_100
)


def test_the_real_models_kv_caches_by_hand() -> None:
    """Dia-1.6B: 18 decoder layers, 4 KV heads x 128 for self-attention over 3,072 positions, 16 heads x 128 for
    cross-attention over 1,024 text positions; two rows (CFG), K and V, bf16."""
    config = DiaConfig()
    self_kv = 18 * 2 * 2 * 4 * 3072 * 128 * 2  # 216 MiB
    cross_kv = 18 * 2 * 2 * 16 * 1024 * 128 * 2  # 288 MiB
    assert kv_cache_bytes(config, 2) == self_kv + cross_kv == 504 * MIB
    assert kv_cache_bytes(config, 4) == 2 * (self_kv + cross_kv)  # fp32 on CPU
    step = request_bytes(config, 2) - kv_cache_bytes(config, 2)
    assert 0 < step < 4 * MIB  # a step's logits, sampler copies and attention scores: small beside the caches


def test_what_is_kept_aside_is_the_largest_one_at_a_time_peak() -> None:
    """Encoding the longest reference (25 s) through the DAC dominates: 6 float32 tensors of 64 channels per
    sample, as measured (1.2-1.5 kB per sample)."""
    reserved = reserved_bytes(DiaConfig(), DAC_44K, 2, prompt_frames=861, window_frames=114)
    assert reserved == 6 * 64 * 4 * 25 * 44_100  # 1.58 GiB
    assert codec_bytes(DAC_44K, 861 * 512, encoding=False) == 6 * 96 * 4 * 861 * 512 < reserved  # a 10 s prompt


def test_the_batch_is_what_fits_at_most_the_ceiling() -> None:
    plan = BatchMemory(free=80 * GIB, per_request=504 * MIB, reserved=6 * GIB, ceiling=32)
    assert plan.fits == (74 * GIB) // (504 * MIB) == 150 and plan.max_batch == 32
    small = BatchMemory(free=12 * GIB, per_request=504 * MIB, reserved=2 * GIB, ceiling=32)
    assert small.fits == 20 and small.max_batch == 20
    none = BatchMemory(free=1 * GIB, per_request=504 * MIB, reserved=2 * GIB, ceiling=32)
    assert none.fits == 0 and none.max_batch == 1  # short texts may still fit; the worst case would not
    assert "20 fit, batch 20 (TTS_DIA_MAX_BATCH 32)" in small.describe()


def test_the_caches_the_decoder_allocates_are_what_the_arithmetic_says(dia_bundle: DiaBundle) -> None:
    """The compiled step's caches are allocated at full size: per request exactly `kv_cache_bytes`."""
    decoder: BatchDecoder[int] = BatchDecoder(dia_bundle.model, max_requests=3)
    decoder._ensure_capacity(3, decoder.max_positions, decoder.max_text)
    caches = [*decoder._self_k, *decoder._self_v, *decoder._cross_k, *decoder._cross_v]
    allocated = sum(cache.numel() * cache.element_size() for cache in caches)
    assert allocated == 3 * kv_cache_bytes(dia_bundle.model.config, 4)
    decoder.add(0, decoder.encode([1, *b"hi"]), torch.zeros(0, 9, dtype=torch.long).numpy(), RowSampling(1, 1, 1, 3, 0))
    assert len(decoder) == 1


def test_on_cpu_the_batch_is_sized_from_available_memory(
    dia_bundle: DiaBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, codec = dia_bundle.model, dia_bundle.codec
    per_request = request_bytes(model.config, 4)
    reserved = reserved_bytes(model.config, codec.config, 4, prompt_frames=16, window_frames=44)
    margin = 512 * MIB
    available = reserved + margin + 3 * per_request + 1
    monkeypatch.setattr("psutil.virtual_memory", lambda: SimpleNamespace(available=available))
    plan = plan_batch(model, codec, torch.device("cpu"), ceiling=8, prompt_frames=16, window_frames=44)
    assert (plan.free, plan.fits, plan.max_batch) == (available, 3, 3)
    roomy = plan_batch(model, codec, torch.device("cpu"), ceiling=2, prompt_frames=16, window_frames=44)
    assert roomy.max_batch == 2


async def test_the_runner_takes_the_sized_batch(dia_bundle: DiaBundle, monkeypatch: pytest.MonkeyPatch) -> None:
    per_request = request_bytes(dia_bundle.model.config, 4)
    real_free = dia_memory.free_memory
    reserved = reserved_bytes(dia_bundle.model.config, dia_bundle.codec.config, 4, prompt_frames=16, window_frames=44)
    monkeypatch.setattr(dia_memory, "free_memory", lambda device: reserved + 512 * MIB + 2 * per_request + 1)
    runner = await started(make_runner(dia_bundle, max_batch=64))
    try:
        engine = runner._engine
        assert engine is not None and engine.memory is not None
        assert runner.max_batch == engine.max_batch == engine.memory.fits == 2
        assert runner.load().capacity == runner.max_batch + runner.max_queue
    finally:
        await runner.stop()
    assert real_free(torch.device("cpu")) > 0
