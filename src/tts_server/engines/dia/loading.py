"""Loading Dia and its DAC codec from a local folder or the Hugging Face cache, offline when asked.

Importing this module is cheap: torch and transformers are imported inside `load_dia`, so the lead's
`TTS_PROVIDER=auto` check (`dia_weights_available`) costs a few file lookups, not a framework import.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tts_server.engines.base import CloningSupport, EngineCapabilities, EngineInfo, EngineLoadError
from tts_server.engines.hub import available_locally, cached_in_hub, hub_snapshot, looks_like_path
from tts_server.engines.torch_device import resolve_device, resolve_dtype

if TYPE_CHECKING:
    import torch

    from tts_server.settings import Settings

log = logging.getLogger(__name__)

DIA_ID = "dia"
SAMPLING_PARAMS = frozenset(
    {"temperature", "top_p", "top_k", "cfg_scale", "max_new_tokens", "seed", "use_torch_compile"}
)
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def dia_engine_info(device: str) -> EngineInfo:
    return EngineInfo(
        id=DIA_ID,
        name="Dia 1.6B",
        sample_rate=44_100,
        capabilities=EngineCapabilities(
            streaming=True,
            cloning=CloningSupport.FULL,
            native_speed=False,  # the service time-stretches (pitch-preserving atempo)
            speaker_tags=True,
            sampling_params=SAMPLING_PARAMS,
        ),
        device=device,
    )


@dataclass(frozen=True, slots=True)
class DiaBundle:
    """Everything loaded for Dia: the model, its codec, the processor built from them, and where they run."""

    model: Any  # DiaForConditionalGeneration
    codec: Any  # DacModel (always float32: it is small and decodes audio)
    processor: Any  # DiaProcessor built by hand around `codec`
    device: torch.device
    dtype: torch.dtype
    model_path: Path
    codec_path: Path

    @property
    def sample_rate(self) -> int:
        return int(self.codec.config.sampling_rate)

    @property
    def hop_length(self) -> int:
        return int(self.codec.config.hop_length)


def folder_has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def _cached_in_hub(repo_id: str) -> bool:
    return cached_in_hub(repo_id, "config.json") and any(cached_in_hub(repo_id, name) for name in WEIGHT_FILES)


def dia_weights_available(settings: Settings) -> bool:
    """True when torch + transformers import and both the Dia weights and the codec are on this machine
    (a local folder with config and weights, or the hub id already in the Hugging Face cache). No network."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        return False
    return all(
        available_locally(name, folder_ready=folder_has_weights, cache_ready=_cached_in_hub)
        for name in (settings.dia_model, settings.dia_codec)
    )


def _hub_id_for(env_name: str) -> str:
    """The hub id a setting defaults to: what a missing local folder should have held."""
    from tts_server.settings import Settings

    default = Settings.model_fields[env_name.removeprefix("TTS_").lower()].default
    return str(default) if isinstance(default, str) else "<hub id>"


def _how_to_get(name: str, env_name: str) -> str:
    return (
        f"Download it with `hf download {name}` (older huggingface_hub: `huggingface-cli download {name}`), "
        f"or set {env_name} to a local folder holding config.json and model.safetensors."
    )


def resolve_source(name: str, *, what: str, env_name: str) -> Path:
    """A local folder for `name`: the folder itself, or the hub snapshot (downloaded unless offline)."""
    if looks_like_path(name):
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise EngineLoadError(
                f"{what} folder not found: {folder} ({env_name}). {_how_to_get(_hub_id_for(env_name), env_name)}"
            )
        if not folder_has_weights(folder):
            raise EngineLoadError(
                f"{what} folder {folder} ({env_name}) has no config.json plus weights "
                f"({' / '.join(WEIGHT_FILES)}). {_how_to_get(_hub_id_for(env_name), env_name)}"
            )
        return folder
    return hub_snapshot(name, what=what, how_to_get=lambda hub_id: _how_to_get(hub_id, env_name))


def load_dia(model: str, codec: str, device: str = "auto", dtype: str = "auto") -> DiaBundle:
    """Load Dia (`model`) and the DAC codec (`codec`), each a local folder or a hub id.

    Raises EngineLoadError with what was not found and how to get it."""
    model_path = resolve_source(model, what="Dia model", env_name="TTS_DIA_MODEL")
    codec_path = resolve_source(codec, what="DAC codec", env_name="TTS_DIA_CODEC")
    device_name = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device_name)
    try:
        return _load(model_path, codec_path, device_name, torch_dtype)
    except EngineLoadError:
        raise
    except Exception as exc:
        raise EngineLoadError(f"Dia could not be loaded from {model_path} with codec {codec_path}: {exc}") from exc


def _load(model_path: Path, codec_path: Path, device_name: str, torch_dtype: torch.dtype) -> DiaBundle:
    import torch
    from transformers import (
        DacModel,
        DiaFeatureExtractor,
        DiaForConditionalGeneration,
        DiaProcessor,
        DiaTokenizer,
    )

    device = torch.device(device_name)
    dia: Any = DiaForConditionalGeneration.from_pretrained(model_path, dtype=torch_dtype)
    dia = dia.to(device).eval()
    dac: Any = DacModel.from_pretrained(codec_path, dtype=torch.float32)
    dac = dac.to(device).eval()
    channels = dia.config.decoder_config.num_channels
    if dac.config.n_codebooks != channels:
        raise EngineLoadError(
            f"The codec at {codec_path} has {dac.config.n_codebooks} codebooks but Dia needs {channels}; "
            "TTS_DIA_CODEC should be descript/dac_44khz."
        )
    # DiaProcessor.from_pretrained looks the codec up on the hub; building it from parts stays offline.
    feature_extractor = DiaFeatureExtractor(sampling_rate=dac.config.sampling_rate, hop_length=dac.config.hop_length)
    processor = DiaProcessor(  # type: ignore[no-untyped-call]
        feature_extractor=feature_extractor, tokenizer=DiaTokenizer(), audio_tokenizer=dac
    )
    log.info("Dia loaded from %s on %s (%s); codec %s", model_path, device, torch_dtype, codec_path)
    return DiaBundle(dia, dac, processor, device, torch_dtype, model_path, codec_path)
