"""Where a torch engine runs and in which precision (TTS_DEVICE and the engine's dtype setting, resolved),
and giving accelerator memory back after running out.

Shared by the torch engines (Dia, S1-mini). Importing this module is cheap: torch is imported when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tts_server.engines.base import EngineLoadError

if TYPE_CHECKING:
    import torch


def resolve_device(choice: str) -> str:
    """auto: CUDA when torch sees a device, else CPU; cuda without a device is an EngineLoadError."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise EngineLoadError("TTS_DEVICE=cuda but no CUDA device is available to torch; use auto or cpu.")
    return choice


def resolve_dtype(choice: str, device: str) -> torch.dtype:
    """auto: bf16 on CUDA (fp16 where bf16 is unsupported), fp32 on CPU."""
    import torch

    if choice == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[choice]


def free_accelerator_memory() -> None:
    """Return the allocator's cached blocks after an out-of-memory error, so the next try may fit."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
