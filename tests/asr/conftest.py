"""Fixtures for the ASR tests: a tiny randomly initialised Whisper checkpoint, saved the way
openai-whisper saves its own, so tests load it through the same path users' checkpoints take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tts_server.asr.whisper import WhisperService

SKIP_REASON = "the whisper extra is not installed (pip install 'tts-server[whisper]')"

# Keeps a random model's decoding short and single-pass: few tokens per window, no temperature fallback
# (both thresholds off), no window skipped as silence, and no previous text fed back as a prompt.
BOUNDED_DECODING: dict[str, Any] = {
    "sample_len": 8,
    "condition_on_previous_text": False,
    "compression_ratio_threshold": None,
    "logprob_threshold": None,
    "no_speech_threshold": None,
}


def build_tiny_checkpoint(path: Path, n_vocab: int = 51865) -> None:
    """Save a random tiny Whisper; n_vocab 51865 is multilingual, 51864 English-only."""
    torch = pytest.importorskip("torch", reason=SKIP_REASON)
    model_module = pytest.importorskip("whisper.model", reason=SKIP_REASON)
    dims = model_module.ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,  # fixed by whisper's 30 s windows
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=n_vocab,  # must match a tokenizer: 51865 multilingual, 51864 English-only (gpt2)
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    generator = torch.Generator().manual_seed(0)
    model = model_module.Whisper(dims)
    with torch.no_grad():
        # Every parameter: decoder.positional_embedding is torch.empty and would otherwise hold garbage/NaN.
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    build_tiny_checkpoint(path)
    return path


@pytest.fixture(scope="session")
def tiny_english_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("whisper") / "tiny-random-en.pt"
    build_tiny_checkpoint(path, n_vocab=51864)
    return path


@pytest.fixture
def make_service(tiny_checkpoint: Path, tmp_path: Path) -> Callable[..., WhisperService]:
    """WhisperService factory on the CPU with bounded decoding; whisper's cache is an empty tmp folder."""

    def make(model: str | Path = tiny_checkpoint, **kwargs: Any) -> WhisperService:
        kwargs.setdefault("download_root", tmp_path / "whisper-cache")
        kwargs.setdefault("transcribe_options", BOUNDED_DECODING)
        return WhisperService(str(model), kwargs.pop("device", "cpu"), **kwargs)

    return make
