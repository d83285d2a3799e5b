"""A tiny randomly initialised Dia and DAC, saved like real checkpoints, for tests anywhere in the suite.

The structure that matters is kept: 9 codebook channels with Dia's delay pattern, the 1028-token audio
vocabulary (1024 codes + EOS/PAD/BOS), a byte-level text encoder, and a DAC with hop 512 at 44.1 kHz.
Everything else is shrunk (2 layers x 64 wide). Random weights never choose EOS, so every generation runs
to its max_new_tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TinyDiaFolders:
    model: Path
    codec: Path


def save_tiny_dia(folder: Path, seed: int = 0) -> TinyDiaFolders:
    import torch
    from transformers import DacConfig, DacModel, DiaConfig, DiaForConditionalGeneration

    torch.manual_seed(seed)
    config = DiaConfig(
        encoder_config={
            "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 4,
            "head_dim": 16, "intermediate_size": 128,
        },
        decoder_config={
            "num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "cross_num_attention_heads": 4, "cross_head_dim": 16,
            "cross_num_key_value_heads": 4, "cross_hidden_size": 64,
        },
    )  # fmt: skip
    folders = TinyDiaFolders(folder / "dia", folder / "dac")
    DiaForConditionalGeneration(config).save_pretrained(folders.model)
    codec = DacConfig(
        encoder_hidden_size=4, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=32, n_codebooks=9,
        codebook_size=1024, codebook_dim=8, sampling_rate=44_100,
    )  # fmt: skip
    DacModel(codec).save_pretrained(folders.codec)
    return folders


def save_mid_dia(folder: Path, seed: int = 0) -> Path:
    """Dia at its real width (encoder 1024, decoder 2048, 16 heads, 4 KV heads, head dim 128), real vocabulary and
    delay pattern, with only 2 encoder and 2 decoder layers (~220M parameters, ~0.9 GB in fp32): the numerics of
    the real model's shapes at a size a CPU test can generate with. Returns the model folder."""
    import torch
    from transformers import DiaConfig, DiaForConditionalGeneration

    torch.manual_seed(seed)
    config = DiaConfig(encoder_config={"num_hidden_layers": 2}, decoder_config={"num_hidden_layers": 2})
    DiaForConditionalGeneration(config).save_pretrained(folder)
    return folder
