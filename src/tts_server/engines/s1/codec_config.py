"""The S1-mini codec's shape: S1-mini's values by default, or read from a checkpoint's tensor shapes.

Nearly everything follows from codec.pth's shapes (channel widths, strides from kernel sizes, layer counts,
codebook sizes). What does not (attention head size and window, RoPE base, RMSNorm epsilon, sample rate) takes
S1-mini's values from fish-speech's modded_dac_vq.yaml, unless a `codec_hparams.json` beside the checkpoint says
otherwise; only tiny test checkpoints carry one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt

from tts_server.engines.s1.codec_transformer import TransformerSpec

HPARAMS_FILE = "codec_hparams.json"

Shapes = Mapping[str, tuple[int, ...]]


class AttentionHparams(BaseModel):
    """Attention settings that tensor shapes cannot tell."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    head_dim: PositiveInt = 64
    window: PositiveInt | None = None
    rope_base: PositiveFloat = 10000.0
    norm_eps: PositiveFloat = 1e-5


class CodecHparams(BaseModel):
    """The contents of codec_hparams.json; every field defaults to S1-mini's value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: PositiveInt = 44100
    encoder_attention: AttentionHparams = AttentionHparams(window=512)  # fish-speech's EncoderBlock fixes 512
    pre_attention: AttentionHparams = AttentionHparams(window=128)
    post_attention: AttentionHparams = AttentionHparams(window=128)


def _s1_transformer(layers: int, window: int) -> TransformerSpec:
    return TransformerSpec(layers=layers, dim=1024, heads=16, head_dim=64, ffn_dim=3072, window=window)


@dataclass(frozen=True, slots=True)
class S1CodecConfig:
    """The whole codec's shape. The defaults are OpenAudio S1-mini's (391.4M parameters)."""

    sample_rate: int = 44100
    encoder_dim: int = 64
    encoder_rates: tuple[int, ...] = (2, 4, 8, 8)
    # One entry per encoder block: the transformer after its strided convolution, if any.
    encoder_transformers: tuple[TransformerSpec | None, ...] = (None, None, None, _s1_transformer(4, 512))
    latent_dim: int = 1024
    # (size, dim) of each codebook; the first is the semantic one.
    codebooks: tuple[tuple[int, int], ...] = ((4096, 8),) + ((1024, 8),) * 9
    downsample_factors: tuple[int, ...] = (2, 2)
    pre_transformer: TransformerSpec | None = field(default_factory=lambda: _s1_transformer(8, 128))
    post_transformer: TransformerSpec | None = field(default_factory=lambda: _s1_transformer(8, 128))
    decoder_dim: int = 1536
    decoder_rates: tuple[int, ...] = (8, 8, 4, 2)

    @property
    def hop_length(self) -> int:
        """Audio samples per frame of codes."""
        return math.prod(self.encoder_rates) * math.prod(self.downsample_factors)

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return tuple(size for size, _ in self.codebooks)

    def encoder_width(self, block: int) -> int:
        """Channels out of encoder block `block` (0-based): the width doubles at each."""
        return self.encoder_dim << (block + 1)

    def decoder_width(self, block: int) -> int:
        """Channels out of decoder block `block` (0-based): the width halves at each."""
        return self.decoder_dim >> (block + 1)


def infer_config(shapes: Shapes, hparams: CodecHparams) -> S1CodecConfig:
    """The config whose modules have these (weight-norm folded) parameter shapes.

    Raises KeyError naming a tensor the layout needs when the checkpoint lacks it.
    """
    encoder_rates = _strides(shapes, "encoder.block.{}.block.4.conv.weight", first=1)
    encoder_dim = shapes["encoder.block.0.conv.weight"][0]
    return S1CodecConfig(
        sample_rate=hparams.sample_rate,
        encoder_dim=encoder_dim,
        encoder_rates=encoder_rates,
        encoder_transformers=tuple(
            _transformer(shapes, f"encoder.block.{block + 1}.block.5.", hparams.encoder_attention)
            for block in range(len(encoder_rates))
        ),
        latent_dim=shapes[f"encoder.block.{len(encoder_rates) + 2}.conv.weight"][0],
        codebooks=_codebooks(shapes, "quantizer.semantic_quantizer.") + _codebooks(shapes, "quantizer.quantizer."),
        downsample_factors=_kernels(shapes, "quantizer.downsample.{}.0.conv.weight"),
        pre_transformer=_transformer(shapes, "quantizer.pre_module.", hparams.pre_attention),
        post_transformer=_transformer(shapes, "quantizer.post_module.", hparams.post_attention),
        decoder_dim=shapes["decoder.model.0.conv.weight"][0],
        decoder_rates=_strides(shapes, "decoder.model.{}.block.1.conv.weight", first=1),
    )


def _count(shapes: Shapes, pattern: str, first: int = 0) -> int:
    index = first
    while pattern.format(index) in shapes:
        index += 1
    return index - first


def _kernels(shapes: Shapes, pattern: str, first: int = 0) -> tuple[int, ...]:
    return tuple(shapes[pattern.format(first + i)][-1] for i in range(_count(shapes, pattern, first)))


def _strides(shapes: Shapes, pattern: str, first: int) -> tuple[int, ...]:
    """Strides of fish-speech's (de)convolutions, whose kernels are twice their strides."""
    return tuple(kernel // 2 for kernel in _kernels(shapes, pattern, first))


def _codebooks(shapes: Shapes, prefix: str) -> tuple[tuple[int, int], ...]:
    pattern = prefix + "quantizers.{}.codebook.weight"
    found = (shapes[pattern.format(i)] for i in range(_count(shapes, pattern)))
    return tuple((size, dim) for size, dim in found)


def _transformer(shapes: Shapes, prefix: str, attention: AttentionHparams) -> TransformerSpec | None:
    layers = _count(shapes, prefix + "layers.{}.attention.wqkv.weight")
    if layers == 0:
        return None
    dim = shapes[prefix + "norm.weight"][0]
    width = shapes[prefix + "layers.0.attention.wo.weight"][1]
    if width % attention.head_dim:
        raise ValueError(f"{prefix}: attention width {width} is not a multiple of head_dim {attention.head_dim}")
    projected = shapes.get(prefix + "input_proj.weight")
    return TransformerSpec(
        layers=layers, dim=dim, heads=width // attention.head_dim, head_dim=attention.head_dim,
        ffn_dim=shapes[prefix + "layers.0.feed_forward.w1.weight"][0], window=attention.window,
        io_dim=projected[1] if projected else None, rope_base=attention.rope_base, norm_eps=attention.norm_eps,
    )  # fmt: skip
