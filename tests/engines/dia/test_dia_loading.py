"""Loading Dia the way real weights load: local folders or the Hugging Face cache, offline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.engines.dia.tiny_models import TinyDiaFolders
from tts_server.engines.base import EngineLoadError
from tts_server.engines.dia.loading import dia_weights_available, load_dia
from tts_server.settings import Settings


def fake_hub_cache(root: Path, repo_id: str, source: Path) -> None:
    """The layout huggingface_hub writes: models--owner--name/{refs/main, snapshots/<commit>/...}."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(source, repo / "snapshots" / commit)


@pytest.fixture
def hub_cache(tmp_path: Path, tiny_dia: TinyDiaFolders, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    fake_hub_cache(tmp_path, "tiny/dia", tiny_dia.model)
    fake_hub_cache(tmp_path, "tiny/dac", tiny_dia.codec)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


def settings(model: str, codec: str) -> Settings:
    return Settings(_env_file=None, dia_model=model, dia_codec=codec)


def test_local_folders_load_offline_in_fp32_on_cpu(tiny_dia: TinyDiaFolders) -> None:
    bundle = load_dia(str(tiny_dia.model), str(tiny_dia.codec))
    assert bundle.device == torch.device("cpu") and bundle.dtype == torch.float32
    assert bundle.sample_rate == 44_100 and bundle.hop_length == 512
    assert bundle.processor.audio_tokenizer is bundle.codec
    assert bundle.processor.tokenizer.encode("[S1] a", add_special_tokens=False) == [1, 32, 97]
    assert load_dia(str(tiny_dia.model), str(tiny_dia.codec), dtype="bfloat16").dtype == torch.bfloat16


def test_hub_ids_resolve_through_the_cache(hub_cache: Path, tiny_dia: TinyDiaFolders) -> None:
    bundle = load_dia("tiny/dia", "tiny/dac", device="cpu")
    assert bundle.model_path.is_relative_to(hub_cache)
    assert dia_weights_available(settings("tiny/dia", "tiny/dac"))
    assert not dia_weights_available(settings("tiny/not-cached", "tiny/dac"))


def test_weights_available_for_folders_only_with_config_and_weights(tiny_dia: TinyDiaFolders, tmp_path: Path) -> None:
    assert dia_weights_available(settings(str(tiny_dia.model), str(tiny_dia.codec)))
    (tmp_path / "empty").mkdir()
    assert not dia_weights_available(settings(str(tmp_path / "empty"), str(tiny_dia.codec)))
    assert not dia_weights_available(settings(str(tmp_path / "missing"), str(tiny_dia.codec)))


def test_missing_weights_say_what_and_how(tmp_path: Path, tiny_dia: TinyDiaFolders, hub_cache: Path) -> None:
    with pytest.raises(EngineLoadError, match=r"not found: .*missing.*TTS_DIA_MODEL"):
        load_dia(str(tmp_path / "missing"), str(tiny_dia.codec))
    with pytest.raises(EngineLoadError) as raised:
        load_dia("nari-labs/Dia-1.6B-0626", str(tiny_dia.codec))
    message = str(raised.value)
    assert "nari-labs/Dia-1.6B-0626" in message and "offline" in message
    assert "hf download nari-labs/Dia-1.6B-0626" in message and "TTS_DIA_MODEL" in message
    with pytest.raises(EngineLoadError, match="TTS_DIA_CODEC"):
        load_dia(str(tiny_dia.model), "descript/dac_44khz")
