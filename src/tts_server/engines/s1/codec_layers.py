"""The convolutional pieces of the S1-mini codec, each usable on a whole clip or on a stream of chunks.

Every layer is causal: an output step depends only on inputs up to it. `forward` takes a whole clip (zero history,
as fish-speech pads on the left); `stream` takes the next chunk and a `StreamState` that carries, per layer, the input
tail its kernel still needs. Feeding a clip chunk by chunk through `stream` computes the same sums as one `forward`.

Module and parameter names follow codec.pth's keys (`block.1.conv.weight`, ...), so a checkpoint loads by name.
Weight norm is folded into plain weights at load time (codec_loading), so the convolutions here are plain.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

RESIDUAL_KERNEL = 7
RESIDUAL_DILATIONS = (1, 3, 9)
CONVNEXT_KERNEL = 7
CONVNEXT_EXPANSION = 4


class StreamState:
    """Decoding streams' memory: tensors (convolution input tails, attention keys/values) with one row per stream,
    and per-row position counters, each entry owned by the layer that reads and replaces it.

    A fresh stream's entries are all zeros (silence before its first frame, position 0), and every entry has the
    same shape at every position. So the states of streams at different points stack into one batch (`stack`),
    decode together, and split back (`split`).
    """

    def __init__(self) -> None:
        self._tensors: dict[tuple[nn.Module, str], Tensor] = {}
        self._positions: dict[nn.Module, list[int]] = {}

    def tensor(self, owner: nn.Module, slot: str = "") -> Tensor | None:
        return self._tensors.get((owner, slot))

    def keep(self, owner: nn.Module, value: Tensor, slot: str = "") -> None:
        self._tensors[(owner, slot)] = value

    def positions(self, owner: nn.Module, rows: int) -> list[int]:
        """Steps each row has been through `owner` so far."""
        return self._positions.get(owner, [0] * rows)

    def advance(self, owner: nn.Module, rows: int, steps: int) -> None:
        self._positions[owner] = [position + steps for position in self.positions(owner, rows)]

    @classmethod
    def stack(cls, states: Sequence[StreamState]) -> StreamState:
        """One state whose row i is single-row state i (a fresh entry counts as zeros)."""
        merged = cls()
        for key in {key for state in states for key in state._tensors}:
            example = next(state._tensors[key] for state in states if key in state._tensors)
            zeros = example.new_zeros(1, *example.shape[1:])
            merged._tensors[key] = torch.cat([state._tensors.get(key, zeros) for state in states])
        for owner in {owner for state in states for owner in state._positions}:
            merged._positions[owner] = [state.positions(owner, 1)[0] for state in states]
        return merged

    def split(self, rows: int) -> list[StreamState]:
        """Single-row states, one per row of this one."""
        parts = [StreamState() for _ in range(rows)]
        for key, value in self._tensors.items():
            for row, part in enumerate(parts):
                part._tensors[key] = value[row : row + 1]
        for owner, positions in self._positions.items():
            for row, part in enumerate(parts):
                part._positions[owner] = [positions[row]]
        return parts


class Streamable(nn.Module):
    """A layer of the decode path: `forward(x)` on a whole clip, `stream(x, state)` on its next chunk."""

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        raise NotImplementedError


class Pointwise(Streamable):
    """A layer without memory along time: a chunk is computed as the whole clip is."""

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        result: Tensor = self(x)
        return result


class Chain(nn.Sequential):
    """nn.Sequential (so keys read `block.3.conv.weight`) that also streams through its layers in order."""

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        for layer in self:
            if not isinstance(layer, Streamable | Chain):
                raise TypeError(f"{type(layer).__name__} cannot stream")
            x = layer.stream(x, state)
        return x


class Snake(Pointwise):
    """x + sin(alpha x)^2 / alpha per channel (DAC's periodic activation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        # The reference's exact expression (1e-9 guard, reciprocal, pow) so that results agree to the last bit.
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class Tanh(Pointwise):
    def forward(self, x: Tensor) -> Tensor:
        return torch.tanh(x)


class CausalConv1d(Streamable):
    """A convolution padded on the left only: kernel span minus stride zeros, as fish-speech's CausalConvNet."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, *, stride: int = 1, dilation: int = 1,
                 groups: int = 1) -> None:  # fmt: skip
        super().__init__()
        self.conv = nn.Conv1d(channels_in, channels_out, kernel, stride=stride, dilation=dilation, groups=groups)
        self.stride = stride
        self.history = (kernel - 1) * dilation + 1 - stride  # input steps before the first output's own

    def forward(self, x: Tensor) -> Tensor:
        # A ragged tail is padded up to a whole stride on the right, as the reference does.
        result: Tensor = self.conv(F.pad(x, (self.history, -x.shape[-1] % self.stride)))
        return result

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        if self.stride != 1:
            raise ValueError("only stride-1 convolutions stream (the decode path has no others)")
        past = state.tensor(self)
        if past is None:
            past = x.new_zeros(*x.shape[:-1], self.history)
        joined = torch.cat([past, x], dim=-1)
        state.keep(self, joined[..., joined.shape[-1] - self.history :])
        result: Tensor = self.conv(joined)
        return result


class CausalConvTranspose1d(Streamable):
    """A transposed convolution whose overhang past the last input (kernel minus stride steps) is cut: each output
    step then depends on inputs up to its own frame only."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, *, stride: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose1d(channels_in, channels_out, kernel, stride=stride)
        self.stride = stride
        self.overhang = kernel - stride
        self.history = -(-kernel // stride) - 1  # earlier inputs whose kernels still reach the next output

    def forward(self, x: Tensor) -> Tensor:
        y: Tensor = self.conv(x)
        return y[..., : y.shape[-1] - self.overhang].contiguous()

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        past = state.tensor(self)
        if past is None:
            past = x.new_zeros(*x.shape[:-1], self.history)  # zero input adds nothing: same as no history
        joined = torch.cat([past, x], dim=-1)
        state.keep(self, joined[..., joined.shape[-1] - self.history :])
        y: Tensor = self.conv(joined)
        start = self.history * self.stride  # outputs before it belong to the previous chunk, already sent
        return y[..., start : start + x.shape[-1] * self.stride]


class ResidualUnit(Streamable):
    """x + (Snake, dilated 7-tap conv, Snake, 1x1 conv)(x)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.block = Chain(
            Snake(channels),
            CausalConv1d(channels, channels, RESIDUAL_KERNEL, dilation=dilation),
            Snake(channels),
            CausalConv1d(channels, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = x + self.block(x)
        return result

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        return x + self.block.stream(x, state)


def residual_stack(channels: int) -> list[nn.Module]:
    return [ResidualUnit(channels, dilation) for dilation in RESIDUAL_DILATIONS]


class ConvNeXtBlock(Streamable):
    """x + gamma * MLP(LayerNorm(depthwise causal conv(x))), the quantizer's down/upsampling refiner."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = CausalConv1d(channels, channels, CONVNEXT_KERNEL, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.pwconv1 = nn.Linear(channels, CONVNEXT_EXPANSION * channels)
        self.pwconv2 = nn.Linear(CONVNEXT_EXPANSION * channels, channels)
        self.gamma = nn.Parameter(torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self._refine(self.dwconv(x))

    def stream(self, x: Tensor, state: StreamState) -> Tensor:
        return x + self._refine(self.dwconv.stream(x, state))

    def _refine(self, mixed: Tensor) -> Tensor:
        y: Tensor = self.pwconv2(F.gelu(self.pwconv1(self.norm(mixed.permute(0, 2, 1)))))
        return (self.gamma * y).permute(0, 2, 1)
