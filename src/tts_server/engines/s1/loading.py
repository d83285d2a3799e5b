"""Finding and loading an S1-mini checkpoint: a local folder or a Hugging Face hub id, offline when asked.

A checkpoint folder (fishaudio/openaudio-s1-mini) holds config.json, model.pth, codec.pth, tokenizer.tiktoken
and special_tokens.json. The weights are gated (CC-BY-NC-SA): users accept the licence on the hub and
download them themselves. Importing this module is cheap; torch is imported when loading.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tts_server.engines.base import CloningSupport, EngineCapabilities, EngineInfo, EngineLoadError
from tts_server.engines.hub import available_locally, cached_in_hub, hub_snapshot, looks_like_path
from tts_server.engines.torch_device import resolve_device, resolve_dtype

if TYPE_CHECKING:
    import torch

    from tts_server.engines.s1.codec import S1Codec
    from tts_server.engines.s1.model import DualARModel
    from tts_server.engines.s1.tokenizer import S1Tokenizer
    from tts_server.settings import Settings

log = logging.getLogger(__name__)

S1_ID = "s1-mini"
S1_HUB_ID = "fishaudio/openaudio-s1-mini"
CHECKPOINT_FILES = ("config.json", "model.pth", "codec.pth", "tokenizer.tiktoken", "special_tokens.json")
SAMPLING_PARAMS = frozenset(
    {"temperature", "top_p", "repetition_penalty", "max_new_tokens", "seed", "use_torch_compile"}
)


def s1_engine_info(device: str) -> EngineInfo:
    return EngineInfo(
        id=S1_ID,
        name="OpenAudio S1-mini",
        sample_rate=44_100,
        capabilities=EngineCapabilities(
            streaming=True,
            cloning=CloningSupport.FULL,
            native_speed=False,  # the service time-stretches (pitch-preserving)
            speaker_tags=False,  # no [S1]/[S2] turns; its own cues like (excited) pass through
            sampling_params=SAMPLING_PARAMS,
        ),
        device=device,
    )


@dataclass(frozen=True, slots=True)
class S1Bundle:
    """Everything loaded for S1-mini, and where it runs."""

    model: DualARModel
    tokenizer: S1Tokenizer
    codec: S1Codec
    device: torch.device
    dtype: torch.dtype
    path: Path


def how_to_get(name: str) -> str:
    return (
        f"The weights are gated: accept the licence at https://huggingface.co/{name}, then `hf auth login` and "
        f"`hf download {name}` (older huggingface_hub: `huggingface-cli download {name}`), or set TTS_S1_MODEL to a "
        f"local folder holding {', '.join(CHECKPOINT_FILES)}."
    )


def missing_files(folder: Path) -> list[str]:
    return [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]


def s1_weights_available(settings: Settings) -> bool:
    """True when torch and tiktoken import and the checkpoint is on this machine (a local folder, or the hub id
    already in the Hugging Face cache). No network."""
    if any(importlib.util.find_spec(name) is None for name in ("torch", "tiktoken", "huggingface_hub")):
        return False
    return available_locally(
        settings.s1_model,
        folder_ready=lambda folder: not missing_files(folder),
        cache_ready=lambda repo: all(cached_in_hub(repo, file) for file in CHECKPOINT_FILES),
    )


def resolve_checkpoint(name: str) -> Path:
    """The local folder for TTS_S1_MODEL: the folder itself, or the hub snapshot (downloaded unless offline)."""
    if looks_like_path(name):
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise EngineLoadError(f"S1-mini folder not found: {folder} (TTS_S1_MODEL). {how_to_get(S1_HUB_ID)}")
        missing = missing_files(folder)
        if missing:
            raise EngineLoadError(
                f"S1-mini folder {folder} (TTS_S1_MODEL) lacks {', '.join(missing)}. {how_to_get(S1_HUB_ID)}"
            )
        return folder
    return hub_snapshot(name, what="S1-mini", how_to_get=how_to_get)


def load_s1(model: str, device: str = "auto", dtype: str = "auto") -> S1Bundle:
    """Load the text-to-semantic model, its tokenizer and the codec from `model` (folder or hub id).

    Raises EngineLoadError with what was not found and how to get it."""
    folder = resolve_checkpoint(model)
    device_name = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device_name)
    try:
        return _load(folder, device_name, torch_dtype)
    except EngineLoadError:
        raise
    except Exception as exc:
        raise EngineLoadError(f"S1-mini could not be loaded from {folder}: {exc}") from exc


def _load(folder: Path, device_name: str, torch_dtype: torch.dtype) -> S1Bundle:
    import torch

    from tts_server.engines.s1.codec import S1Codec
    from tts_server.engines.s1.tokenizer import S1Tokenizer
    from tts_server.engines.s1.weights import load_model

    device = torch.device(device_name)
    tokenizer = S1Tokenizer.from_folder(folder)
    model = load_model(folder, tokenizer, device=device, dtype=torch_dtype)
    # The codec runs in the model's dtype, as the reference decodes under autocast to it.
    codec = S1Codec.from_checkpoint(folder / "codec.pth", device=device, dtype=torch_dtype)
    if codec.num_codebooks != model.num_codebooks:
        raise EngineLoadError(
            f"codec.pth has {codec.num_codebooks} codebooks but model.pth expects {model.num_codebooks}."
        )
    log.info("S1-mini loaded from %s on %s (%s)", folder, device, torch_dtype)
    return S1Bundle(model, tokenizer, codec, device, torch_dtype, folder)
