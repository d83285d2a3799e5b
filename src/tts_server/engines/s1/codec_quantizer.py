"""Between the codec's encoder and decoder: frames of latents to 10 codes and back.

Encoding: the encoder's latents are downsampled (x4 in S1-mini), pass a windowed transformer, then a semantic
codebook quantizes them and nine residual codebooks quantize what is left, each the remainder of the one before.
Decoding: each code's vector is projected back and summed, then another windowed transformer and upsampling
restore the decoder's rate. Codebook search is cosine nearest-neighbour in a small (8-dim) space (DAC's factorised,
L2-normalised codes).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_server.engines.s1.codec_config import S1CodecConfig
from tts_server.engines.s1.codec_layers import (
    CausalConv1d,
    CausalConvTranspose1d,
    Chain,
    ConvNeXtBlock,
    Streamable,
    StreamState,
)
from tts_server.engines.s1.codec_transformer import TransformerSpec, WindowedTransformer


class Codebook(nn.Module):
    """One codebook with its projections into (in_proj) and out of (out_proj) the codebook space."""

    def __init__(self, channels: int, size: int, dim: int) -> None:
        super().__init__()
        self.in_proj = nn.Conv1d(channels, dim, kernel_size=1)
        self.out_proj = nn.Conv1d(dim, channels, kernel_size=1)
        self.codebook = nn.Embedding(size, dim)

    def quantize(self, target: Tensor) -> tuple[Tensor, Tensor]:
        """Codes [batch, steps] of the nearest entries to target [batch, channels, steps], and their projection."""
        projected: Tensor = self.in_proj(target)
        codes = self._nearest(projected)
        chosen = self.codebook(codes).transpose(1, 2)
        # The reference returns z_e + (z_q - z_e) (a straight-through estimator for training). It rounds
        # differently from z_q, and the next codebook quantizes what is left: keep it so the codes agree.
        return codes, self.out_proj(projected + (chosen - projected))

    def embed(self, codes: Tensor) -> Tensor:
        result: Tensor = self.out_proj(self.codebook(codes).transpose(1, 2))
        return result

    def _nearest(self, projected: Tensor) -> Tensor:
        batch, dim, steps = projected.shape
        vectors = F.normalize(projected.transpose(1, 2).reshape(batch * steps, dim))
        entries = F.normalize(self.codebook.weight)
        # Squared distance written out as the reference writes it, so near-ties break the same way.
        distance = (
            vectors.pow(2).sum(1, keepdim=True) - 2 * vectors @ entries.t() + entries.pow(2).sum(1, keepdim=True).t()
        )
        return (-distance).max(1).indices.view(batch, steps)


class ResidualCodebooks(nn.Module):
    """Codebooks applied in turn, each to what the previous ones left unexplained."""

    def __init__(self, channels: int, books: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.quantizers = nn.ModuleList(Codebook(channels, size, dim) for size, dim in books)

    def quantize(self, target: Tensor) -> tuple[Tensor, Tensor]:
        """Codes [batch, books, steps] and the sum of their projections."""
        codes, total, remainder = [], torch.zeros_like(target), target
        for book in self._books():
            book_codes, explained = book.quantize(remainder)
            codes.append(book_codes)
            total, remainder = total + explained, remainder - explained
        return torch.stack(codes, dim=1), total

    def embed(self, codes: Tensor) -> Tensor:
        books = self._books()
        total = books[0].embed(codes[:, 0])
        for index, book in enumerate(books[1:], start=1):
            total = total + book.embed(codes[:, index])
        return total

    def _books(self) -> list[Codebook]:
        return [book for book in self.quantizers if isinstance(book, Codebook)]


def _transformer(spec: TransformerSpec | None) -> WindowedTransformer | None:
    return WindowedTransformer(spec) if spec is not None else None


class S1Quantizer(Streamable):
    """Latents [batch, latent_dim, steps] <-> codes [batch, codebooks, steps / downsampling]."""

    def __init__(self, config: S1CodecConfig) -> None:
        super().__init__()
        channels = config.latent_dim
        self.semantic_quantizer = ResidualCodebooks(channels, config.codebooks[:1])
        self.quantizer = ResidualCodebooks(channels, config.codebooks[1:])
        self.codebook_sizes = config.codebook_sizes
        factors = config.downsample_factors
        # fish-speech allows other widths between stages, but its codebooks then no longer fit: S1 keeps one.
        self.downsample = Chain(
            *(Chain(CausalConv1d(channels, channels, f, stride=f), ConvNeXtBlock(channels)) for f in factors)
        )
        self.upsample = Chain(  # mirrors downsampling: the last factor undone first
            *(
                Chain(CausalConvTranspose1d(channels, channels, f, stride=f), ConvNeXtBlock(channels))
                for f in reversed(factors)
            )
        )
        self.pre_module = _transformer(config.pre_transformer)
        self.post_module = _transformer(config.post_transformer)

    def encode(self, latents: Tensor) -> Tensor:
        z = self.downsample(latents)
        if self.pre_module is not None:
            z = self.pre_module(z)
        semantic_codes, semantic = self.semantic_quantizer.quantize(z)
        residual_codes, _ = self.quantizer.quantize(z - semantic)
        return torch.cat([semantic_codes, residual_codes], dim=1)

    def forward(self, codes: Tensor) -> Tensor:
        """Decode: latents at the decoder's input rate for codes [batch, codebooks, frames]."""
        z = self._embed(codes)
        if self.post_module is not None:
            z = self.post_module(z)
        result: Tensor = self.upsample(z)
        return result

    def stream(self, codes: Tensor, state: StreamState) -> Tensor:
        z = self._embed(codes)
        if self.post_module is not None:
            z = self.post_module.stream(z, state)
        return self.upsample.stream(z, state)

    def _embed(self, codes: Tensor) -> Tensor:
        # Out-of-range codes are clamped to the last entry, as the reference does (a sampler may overshoot).
        limits = torch.tensor(self.codebook_sizes, device=codes.device)[None, :, None] - 1
        codes = torch.minimum(codes.clamp(min=0), limits)
        return self.semantic_quantizer.embed(codes[:, :1]) + self.quantizer.embed(codes[:, 1:])
