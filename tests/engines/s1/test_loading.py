"""Loading S1-mini the way real weights load: a local folder or the Hugging Face cache, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.engines.s1.conftest import TINY
from tts_server.engines.base import EngineLoadError
from tts_server.engines.s1.loading import CHECKPOINT_FILES, load_s1, s1_weights_available
from tts_server.settings import Settings

HUB_ID = "tiny-org/tiny-s1"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The layout huggingface_hub writes: models--owner--name/{refs/main, snapshots/<commit>/...}."""
    from huggingface_hub import constants

    repo = tmp_path / f"models--{HUB_ID.replace('/', '--')}"
    commit = "1" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(TINY, repo / "snapshots" / commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


def settings(model: str) -> Settings:
    return Settings(_env_file=None, s1_model=model)


def test_a_hub_id_resolves_through_the_cache_offline(hub_cache: Path) -> None:
    assert s1_weights_available(settings(HUB_ID))
    assert not s1_weights_available(settings("tiny-org/not-cached"))
    bundle = load_s1(HUB_ID, device="cpu")
    assert bundle.path.is_relative_to(hub_cache) and bundle.device == torch.device("cpu")
    assert bundle.dtype == torch.float32 and bundle.codec.dtype == torch.float32  # auto on CPU


def test_an_uncached_hub_id_offline_says_what_and_how(hub_cache: Path) -> None:
    with pytest.raises(EngineLoadError) as raised:
        load_s1("fishaudio/openaudio-s1-mini", device="cpu")
    message = str(raised.value)
    assert "offline" in message and "hf download fishaudio/openaudio-s1-mini" in message
    assert "accept the licence" in message and "TTS_S1_MODEL" in message


def test_a_folder_is_available_only_with_every_file(tmp_path: Path) -> None:
    assert s1_weights_available(settings(str(TINY)))
    for missing in CHECKPOINT_FILES:
        folder = tmp_path / missing
        shutil.copytree(TINY, folder)
        (folder / missing).unlink()
        assert not s1_weights_available(settings(str(folder)))
        with pytest.raises(EngineLoadError, match=f"lacks {missing}"):
            load_s1(str(folder), device="cpu")


def test_dtype_is_honoured_for_model_and_codec() -> None:
    bundle = load_s1(str(TINY), device="cpu", dtype="bfloat16")
    assert bundle.dtype == torch.bfloat16
    assert next(bundle.model.parameters()).dtype == torch.bfloat16 and bundle.codec.dtype == torch.bfloat16


def test_cuda_without_a_gpu_is_a_clear_load_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(EngineLoadError, match="TTS_DEVICE=cuda"):
        load_s1(str(TINY), device="cuda")
