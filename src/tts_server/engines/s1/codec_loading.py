"""Reading the official codec.pth: unwrap, fold weight norm, set buffers aside, infer the shape.

The file is a torch.save'd state dict of fish-speech's DAC module (a `state_dict` wrapper or a `generator.` prefix,
as its training checkpoints have, are accepted too). Its convolutions carry weight norm in one of two key formats:
torch's parametrizations (`conv.parametrizations.weight.original0/1`, magnitude/direction) on the causal
convolutions, and the older hooks (`weight_g/weight_v`) on the codebook projections; either format is accepted on
any layer. Both fold into a plain `weight` here, once, with the same function the reference calls on every forward.
The RoPE tables (`freqs_cis`) are kept for the transformers to adopt; the causal masks are dropped (masks are
built per call, as the reference's forward does too).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import Tensor

from tts_server.engines.base import EngineLoadError
from tts_server.engines.s1.codec_config import HPARAMS_FILE, CodecHparams, S1CodecConfig, infer_config

log = logging.getLogger(__name__)

_PARAMETRIZED = (".parametrizations.weight.original0", ".parametrizations.weight.original1")
_HOOKED = (".weight_g", ".weight_v")
_ROPE_TABLE = ".freqs_cis"
_UNUSED_BUFFERS = (".causal_mask",)


@dataclass(frozen=True, slots=True)
class CodecCheckpoint:
    """A codec.pth read and converted to S1Codec's parameter names."""

    path: Path
    config: S1CodecConfig
    weights: dict[str, Tensor]  # float32, weight norm folded
    rope_tables: dict[str, Tensor]  # module name -> its freqs_cis


def read_codec_checkpoint(path: Path) -> CodecCheckpoint:
    """Read codec.pth (and codec_hparams.json beside it, if any). Raises EngineLoadError naming the file."""
    try:
        weights, rope_tables = convert_checkpoint(_load(path))
    except ValueError as exc:
        raise EngineLoadError(f"S1-mini codec checkpoint {path}: {exc}") from None
    hparams = read_hparams(path.with_name(HPARAMS_FILE))
    try:
        config = infer_config({key: tuple(value.shape) for key, value in weights.items()}, hparams)
    except KeyError as exc:
        raise EngineLoadError(
            f"S1-mini codec checkpoint {path} does not hold an S1-mini codec: it has no tensor {exc}"
        ) from None
    except ValueError as exc:
        raise EngineLoadError(f"S1-mini codec checkpoint {path}: {exc}") from None
    return CodecCheckpoint(path=path, config=config, weights=weights, rope_tables=rope_tables)


def convert_checkpoint(state: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """S1Codec's weights (weight norm folded, unused buffers dropped) and the RoPE tables by module name."""
    tensors = unwrap_checkpoint(state)
    rope_tables = {key.removesuffix(_ROPE_TABLE): value for key, value in tensors.items() if key.endswith(_ROPE_TABLE)}
    kept = {key: value for key, value in tensors.items() if not key.endswith((_ROPE_TABLE, *_UNUSED_BUFFERS))}
    return fold_weight_norm(kept), rope_tables


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise EngineLoadError(f"S1-mini codec checkpoint not found: {path} (the model folder's codec.pth)")
    try:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            loaded = torch.load(path, map_location="cpu", weights_only=True)  # a legacy (non-zip) torch.save
    except Exception as exc:
        reason = str(exc).split(". ")[0].splitlines()[0] if str(exc) else type(exc).__name__
        raise EngineLoadError(
            f"S1-mini codec checkpoint {path} could not be read (damaged, or not a torch.save file): {reason}"
        ) from None
    if not isinstance(loaded, dict):
        raise EngineLoadError(f"S1-mini codec checkpoint {path} holds a {type(loaded).__name__}, not a state dict")
    return loaded


def unwrap_checkpoint(state: Mapping[str, Any]) -> dict[str, Tensor]:
    """The codec's own tensors from a plain state dict, a {"state_dict": ...} wrapper, or `generator.` keys (a
    training checkpoint that also holds its discriminators)."""
    inner = state.get("state_dict")
    if isinstance(inner, Mapping):
        state = inner
    if any(key.startswith("generator.") for key in state):
        state = {key.removeprefix("generator."): value for key, value in state.items() if key.startswith("generator.")}
    return {key: value for key, value in state.items() if isinstance(value, Tensor)}


def fold_weight_norm(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace each weight-norm pair (magnitude g, direction v) by weight = g * v / |v| (norm over all but dim 0),
    in float32. Raises ValueError when one half of a pair is missing."""
    pending = dict(state)
    folded: dict[str, Tensor] = {}
    for magnitude_suffix, direction_suffix in (_PARAMETRIZED, _HOOKED):
        for key in [key for key in pending if key.endswith(magnitude_suffix)]:
            base = key.removesuffix(magnitude_suffix)
            direction = pending.pop(base + direction_suffix, None)
            if direction is None:
                raise ValueError(f"weight norm of {base} has a magnitude but no direction ({base + direction_suffix})")
            folded[base + ".weight"] = torch._weight_norm(direction.float(), pending.pop(key).float(), 0)
    stray = [key for key in pending if key.endswith((_PARAMETRIZED[1], _HOOKED[1]))]
    if stray:
        raise ValueError(f"weight norm direction without its magnitude: {stray[0]}")
    folded.update({key: value.float() if value.is_floating_point() else value for key, value in pending.items()})
    return folded


def read_hparams(path: Path) -> CodecHparams:
    """codec_hparams.json if present (tiny test checkpoints), else S1-mini's values."""
    if not path.is_file():
        return CodecHparams()
    try:
        return CodecHparams.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise EngineLoadError(f"S1-mini codec settings {path} are invalid: {exc}") from None
