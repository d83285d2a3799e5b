"""The stored voice prompts of Dia's built-in voices, under `<data dir>/dia_voices/<model fingerprint>/`.

A built-in voice's prompt is audio Dia generated once from a fixed sentence with the voice's seed; every request
with that voice is then conditioned on it, so the voice sounds the same from text to text and across restarts.
One folder per voice holds it:

    dia_voices/<fingerprint>/<voice>/codes.npy   the prompt as Dia's codes [frames, channels] (what conditions)
                                     prompt.txt  the sentence spoken (its transcript)
                                     prompt.wav  the same audio, to listen to
                                     prompt.json seed, frames, sample rate, when it was made

The folder is written under a temporary name and renamed into place in one step, so a reader sees a whole
prompt or none, and a crash leaves only a dot-named temporary folder that the next `sweep` removes. The
fingerprint names the model the prompts were made with: another model finds no prompts and makes its own.
Blocking: call from a worker thread.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

PROMPTS_DIR = "dia_voices"
_FILES = ("codes.npy", "prompt.txt", "prompt.wav", "prompt.json")


@dataclass(frozen=True, slots=True)
class StoredPrompt:
    codes: NDArray[np.int64]  # undelayed [frames, channels]
    text: str  # untagged: the request's speaker tag is put in front at use
    seed: int


class PromptFiles:
    """The prompt folders of one model (one fingerprint)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self, voice: str) -> StoredPrompt | None:
        """The stored prompt, or None when there is none (or it is unreadable: it is then made again)."""
        folder = self.directory / voice
        try:
            codes = np.load(folder / "codes.npy", allow_pickle=False)
            text = (folder / "prompt.txt").read_text(encoding="utf-8")
            meta = json.loads((folder / "prompt.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, EOFError):
            return None
        if codes.ndim != 2 or codes.dtype.kind not in "iu":
            return None
        return StoredPrompt(codes.astype(np.int64), text, int(meta.get("seed", 0)))

    def save(self, voice: str, prompt: StoredPrompt, audio: NDArray[np.float32], sample_rate: int) -> bool:
        """Write the prompt's folder in one rename; False when a prompt for `voice` was stored meanwhile (the
        first one is kept: it is what earlier requests were conditioned on)."""
        final = self.directory / voice
        if final.exists():
            if self.load(voice) is not None:
                return False
            self._set_aside(final)  # unreadable (edited by hand?): made again
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = self._temporary(voice)
        staging.mkdir()
        try:
            _write_prompt(staging, prompt, audio, sample_rate)
            os.rename(staging, final)  # atomic; fails when `final` appeared meanwhile
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if final.is_dir():
                return False
            raise
        _fsync_directory(self.directory)
        return True

    def _temporary(self, voice: str) -> Path:
        return self.directory / f".{voice}.{secrets.token_hex(8)}.tmp"

    def _set_aside(self, folder: Path) -> None:
        aside = self._temporary(folder.name)
        os.rename(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)

    def sweep(self) -> None:
        """Remove temporary folders a crash left behind."""
        if not self.directory.is_dir():
            return
        for entry in self.directory.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                shutil.rmtree(entry, ignore_errors=True)


def _write_prompt(folder: Path, prompt: StoredPrompt, audio: NDArray[np.float32], sample_rate: int) -> None:
    with open(folder / "codes.npy", "wb") as handle:
        np.save(handle, prompt.codes.astype(np.int16), allow_pickle=False)  # codes < 1024
    (folder / "prompt.txt").write_text(prompt.text, encoding="utf-8")
    _write_wav(folder / "prompt.wav", audio, sample_rate)
    meta = {
        "seed": prompt.seed,
        "frames": len(prompt.codes),
        "sample_rate": sample_rate,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / "prompt.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    for name in _FILES:
        with open(folder / name, "rb") as handle:
            os.fsync(handle.fileno())


def _write_wav(path: Path, audio: NDArray[np.float32], sample_rate: int) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
