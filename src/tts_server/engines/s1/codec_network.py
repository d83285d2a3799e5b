"""The codec's convolutional encoder (audio -> latents) and decoder (latents -> audio), DAC-style and causal.

Encoder: a 7-tap convolution, then per block three dilated residual units and a strided convolution that doubles
the width (S1-mini: strides 2, 4, 8, 8, so 512 samples per latent step), with a windowed transformer after the last
block. Decoder: the mirror image with transposed convolutions that halve the width (strides 8, 8, 4, 2) and a
final tanh. Only the decoder streams: references are encoded whole.
"""

from __future__ import annotations

from torch import Tensor, nn

from tts_server.engines.s1.codec_config import S1CodecConfig
from tts_server.engines.s1.codec_layers import (
    CausalConv1d,
    CausalConvTranspose1d,
    Chain,
    Snake,
    Streamable,
    StreamState,
    Tanh,
    residual_stack,
)
from tts_server.engines.s1.codec_transformer import TransformerSpec, WindowedTransformer

EDGE_KERNEL = 7  # the first convolution of each network and the decoder's last
LATENT_KERNEL = 3  # the encoder's last convolution


class EncoderBlock(nn.Module):
    def __init__(self, width: int, stride: int, transformer: TransformerSpec | None) -> None:
        super().__init__()
        half = width // 2
        layers = [*residual_stack(half), Snake(half), CausalConv1d(half, width, 2 * stride, stride=stride)]
        if transformer is not None:
            layers.append(WindowedTransformer(transformer))
        self.block = Chain(*layers)

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = self.block(x)
        return result


class Encoder(nn.Module):
    """Audio [batch, 1, samples] -> latents [batch, latent_dim, samples / prod(encoder_rates)]."""

    def __init__(self, config: S1CodecConfig) -> None:
        super().__init__()
        stages = zip(config.encoder_rates, config.encoder_transformers, strict=True)
        blocks = [
            EncoderBlock(config.encoder_width(index), stride, transformer)
            for index, (stride, transformer) in enumerate(stages)
        ]
        width = config.encoder_width(len(blocks) - 1)
        self.block = Chain(
            CausalConv1d(1, config.encoder_dim, EDGE_KERNEL),
            *blocks,
            Snake(width),
            CausalConv1d(width, config.latent_dim, LATENT_KERNEL),
        )

    def forward(self, audio: Tensor) -> Tensor:
        result: Tensor = self.block(audio)
        return result


class DecoderBlock(Streamable):
    def __init__(self, width_in: int, width_out: int, stride: int) -> None:
        super().__init__()
        self.block = Chain(
            Snake(width_in),
            CausalConvTranspose1d(width_in, width_out, 2 * stride, stride=stride),
            *residual_stack(width_out),
        )

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = self.block(x)
        return result

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        return self.block.stream(x, state)


class Decoder(Streamable):
    """Latents [batch, latent_dim, steps] -> audio [batch, 1, steps * prod(decoder_rates)] in [-1, 1]."""

    def __init__(self, config: S1CodecConfig) -> None:
        super().__init__()
        widths = [config.decoder_dim] + [config.decoder_width(i) for i in range(len(config.decoder_rates))]
        blocks = [DecoderBlock(widths[i], widths[i + 1], stride) for i, stride in enumerate(config.decoder_rates)]
        self.model = Chain(
            CausalConv1d(config.latent_dim, config.decoder_dim, EDGE_KERNEL),
            *blocks,
            Snake(widths[-1]),
            CausalConv1d(widths[-1], 1, EDGE_KERNEL),
            Tanh(),
        )

    def forward(self, latents: Tensor) -> Tensor:
        result: Tensor = self.model(latents)
        return result

    def stream(self, latents: Tensor, state: StreamState) -> Tensor:
        return self.model.stream(latents, state)
