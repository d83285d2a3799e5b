"""The full-size S1-mini codec, built on the meta device (no memory), against the reference's state dict.

codec_full_size_state_dict.json lists every key, shape and dtype of fish-speech's DAC built from its own
modded_dac_vq.yaml. A real codec.pth with those tensors must convert, infer S1-mini's config with no hparams file,
and fill every parameter of our module with the right shape.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

pytest.importorskip("torch")

import torch

from tests.engines.s1.codec_support import FULL_SIZE_STATE_DICT
from tts_server.engines.s1.codec import S1Codec
from tts_server.engines.s1.codec_config import CodecHparams, S1CodecConfig, infer_config
from tts_server.engines.s1.codec_loading import convert_checkpoint


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    record: dict[str, Any] = json.loads(FULL_SIZE_STATE_DICT.read_text())
    return record


@pytest.fixture(scope="module")
def reference_state(reference: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {
        key: torch.empty(entry["shape"], dtype=getattr(torch, entry["dtype"]), device="meta")
        for key, entry in reference["state_dict"].items()
    }


def test_reference_record(reference: dict[str, Any]) -> None:
    """The facts the issue states: 541 entries, 391.4M parameters, both weight-norm formats."""
    entries = reference["state_dict"]
    assert reference["entries"] == len(entries) == 541
    assert reference["parameters"] == 391_430_530
    assert round(reference["parameters"] / 1e6, 1) == 391.4
    assert sum(math.prod(e["shape"]) for e in entries.values() if e["parameter"]) == reference["parameters"]
    assert sum(key.endswith(".parametrizations.weight.original0") for key in entries) == 60
    assert sum(key.endswith(".weight_g") for key in entries) == 20
    buffers = sorted(key.rsplit(".", 1)[1] for key, entry in entries.items() if not entry["parameter"])
    assert buffers == ["causal_mask"] * 3 + ["freqs_cis"] * 3


def test_reference_shapes_infer_s1_mini_defaults(reference_state: dict[str, torch.Tensor]) -> None:
    weights, rope_tables = convert_checkpoint(reference_state)
    config = infer_config({key: tuple(value.shape) for key, value in weights.items()}, CodecHparams())
    assert config == S1CodecConfig()
    assert config.hop_length == 2048 and config.sample_rate == 44100
    assert config.codebook_sizes == (4096,) + (1024,) * 9
    assert sorted(rope_tables) == ["encoder.block.4.block.5", "quantizer.post_module", "quantizer.pre_module"]


def test_every_reference_tensor_fills_our_module(reference_state: dict[str, torch.Tensor]) -> None:
    weights, _ = convert_checkpoint(reference_state)
    with torch.device("meta"):
        codec = S1Codec()
    ours = {key: tuple(value.shape) for key, value in codec.state_dict().items()}
    assert ours == {key: tuple(value.shape) for key, value in weights.items()}
    # Folding weight norm drops one magnitude tensor per pair: 80 pairs of the 535 parameters.
    assert len(ours) == 535 - 80
    magnitudes = sum(value.numel() for key, value in reference_state.items() if key.endswith(("original0", "weight_g")))
    assert sum(p.numel() for p in codec.parameters()) + magnitudes == 391_430_530


def test_full_size_module_shape() -> None:
    with torch.device("meta"):
        codec = S1Codec()
    assert (codec.sample_rate, codec.hop_length, codec.num_codebooks) == (44100, 2048, 10)
    assert codec.codebook_sizes == (4096,) + (1024,) * 9
