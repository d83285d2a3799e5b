"""Loading the DualAR weights from an official model.pth, as the reference accepts them.

Accepted: a plain state dict, one wrapped in {"state_dict": ...} (a training checkpoint), keys with the
training module's `model.` prefix, and attention weights saved as separate wq/wk/wv (merged into wqkv).
Audio-projector weights (`audio_*`) are not used for speech and are dropped. Unlike the reference, which
warns and carries on, a missing or misshapen weight is a load error: the model would speak noise.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor

from tts_server.engines.base import EngineLoadError
from tts_server.engines.s1.config import S1ModelConfig
from tts_server.engines.s1.model import DualARModel
from tts_server.engines.s1.tokenizer import S1Tokenizer

log = logging.getLogger(__name__)

MODEL_FILE = "model.pth"
CONFIG_FILE = "config.json"
_TRAINING_PREFIX = "model."


def normalise_state_dict(raw: object) -> dict[str, Tensor]:
    """The checkpoint's tensors under the keys `DualARModel` uses."""
    if isinstance(raw, dict) and "state_dict" in raw:
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not all(isinstance(value, Tensor) for value in raw.values()):
        raise EngineLoadError("model.pth does not hold a state dict of tensors.")
    state: dict[str, Tensor] = {}
    for key, value in raw.items():
        name = key.removeprefix(_TRAINING_PREFIX)
        if "audio_" not in name:
            state[name] = value
    for q_key in [key for key in state if key.endswith(".wq.weight")]:
        prefix = q_key.removesuffix("wq.weight")
        parts = [state.pop(prefix + f"{name}.weight") for name in ("wq", "wk", "wv")]
        state[prefix + "wqkv.weight"] = torch.cat(parts)
    return state


def build_model(config: S1ModelConfig, tokenizer: S1Tokenizer, device: torch.device | str = "meta") -> DualARModel:
    """The model's modules on `device` (meta: no memory, for loading with assign or for checking shapes)."""
    if config.vocab_size < tokenizer.vocab_size:
        raise EngineLoadError(
            f"The model's vocab_size ({config.vocab_size}) is smaller than its tokenizer's {tokenizer.vocab_size} "
            "tokens; config.json and the tokenizer files do not belong together."
        )
    with torch.device(device):
        return DualARModel(
            config, semantic_begin_id=tokenizer.semantic_begin_id, semantic_end_id=tokenizer.semantic_end_id
        )


def load_model(folder: Path, tokenizer: S1Tokenizer, *, device: torch.device, dtype: torch.dtype) -> DualARModel:
    """config.json + model.pth from `folder`, on `device` in `dtype`, ready for inference."""
    config = S1ModelConfig.from_file(folder / CONFIG_FILE)
    model = build_model(config, tokenizer)
    try:
        raw = torch.load(folder / MODEL_FILE, map_location="cpu", mmap=True, weights_only=True)
    except Exception as exc:
        raise EngineLoadError(f"{folder / MODEL_FILE} could not be read: {exc}") from exc
    state = normalise_state_dict(raw)
    check_state_dict(model, state)
    model.load_state_dict(state, strict=False, assign=True)
    model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    model.init_rope(device)
    return model


def check_state_dict(model: DualARModel, state: dict[str, Tensor]) -> None:
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    wrong = sorted(key for key in expected if key in state and tuple(state[key].shape) != expected[key])
    unused = sorted(set(state) - set(expected))
    if unused:
        log.warning("model.pth holds %d weights S1 does not use: %s", len(unused), ", ".join(unused[:5]))
    if missing or wrong:
        details = [f"missing {', '.join(missing[:5])}"] if missing else []
        details += [f"{key} is {tuple(state[key].shape)}, expected {expected[key]}" for key in wrong[:5]]
        raise EngineLoadError(
            f"model.pth does not match config.json ({len(missing)} missing, {len(wrong)} misshapen): "
            + "; ".join(details)
        )
