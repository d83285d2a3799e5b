"""S1-mini's voices: reference voices cloned from their codes, and named voices with a kept timbre.

S1-mini has no built-in speakers: without a voice prompt every generation invents a new one. So a named voice
(default, aria, alloy, ...) is a fixed seed whose first generation of a fixed sentence is *kept*: its codes
become that voice's prompt for every later request, which is what fixes the timbre. The kept prompts are
written to disk (when the engine has a folder for them), so the voice survives restarts even where the
generation itself would not repeat bit for bit (a GPU decoding a different batch). A voice mapping with a seed
is the same thing for its seed.

Reference voices (S1 references, Dia audio prompts) are encoded to codes once per content hash and kept in a
bounded in-memory cache.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tts_server.engines.base import ReferenceAudio, VoiceInfo
from tts_server.engines.reference_clips import ReferenceCache, read_clip, require_transcript
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.engines.s1.sampling import VOICE_SAMPLING
from tts_server.engines.seed_voices import BUILTIN_SEEDS as BUILTIN_SEEDS  # the names, and their seeds in S1-mini
from tts_server.engines.seed_voices import seed_voice_list
from tts_server.engines.weights_fingerprint import weights_fingerprint

if TYPE_CHECKING:
    from tts_server.engines.s1.codec import S1Codec

log = logging.getLogger(__name__)

# What a named voice says the first time, with its seed; its codes become the voice's prompt.
VOICE_SAMPLE_TEXT = (
    "Hello, and welcome. I will read your text in this voice, calmly and clearly, from beginning to end."
)
VOICE_SAMPLE_FRAMES = 320  # cap on the sample's frames (~15 s; the sentence takes ~7 s)
_RECIPE = f"v1|{VOICE_SAMPLE_TEXT}|frames={VOICE_SAMPLE_FRAMES}|{VOICE_SAMPLING}"  # a new recipe makes new samples
MAX_REFERENCE_SECONDS = 30.0  # longer references cost context and time and add little


def model_fingerprint(model_path: Path) -> str:
    """Names the folder of the named voices' kept samples: they are this checkpoint's own speech, and its codec's
    codes, so another checkpoint finds none and makes its own."""
    folder = Path(model_path)
    return weights_fingerprint(folder / "config.json", [folder / "model.pth", folder / "codec.pth"], _RECIPE)


def builtin_voices() -> list[VoiceInfo]:
    return seed_voice_list(
        lambda seed: (
            f"S1-mini seed voice (seed {seed}): its first generation is kept as its prompt, so it keeps "
            "one timbre across requests and restarts. Clone a reference voice for a voice of your choosing."
        )
    )


def seed_of(builtin: str | None, seed: int | None) -> int:
    """The seed whose kept sample is the voice: a mapping's own seed, else the named voice's."""
    if seed is not None:
        return seed
    return BUILTIN_SEEDS.get((builtin or "default").lower(), BUILTIN_SEEDS["default"])


class ReferencePrompts(ReferenceCache[np.ndarray]):
    """Reference audio encoded to codes once per content hash; a bounded LRU cache."""

    def __init__(self, codec: S1Codec, *, capacity: int = 16) -> None:
        super().__init__(capacity)
        self._codec = codec

    def prompt(self, reference: ReferenceAudio) -> VoicePrompt:
        """The reference's words and codes, encoded on first use."""
        transcript = " ".join(reference.transcript.split())
        require_transcript(reference, transcript, "S1-mini")
        return VoicePrompt(transcript, self.get(reference, self._encode))

    def _encode(self, reference: ReferenceAudio) -> np.ndarray:
        decoded = read_clip(
            reference,
            rate=self._codec.sample_rate,
            max_seconds=MAX_REFERENCE_SECONDS,
            engine="S1-mini",
            advice="10-20 s works well",
        )
        import torch

        audio = torch.as_tensor(np.asarray(decoded.samples, dtype=np.float32))[None, None]
        codes: np.ndarray = self._codec.encode(audio)[0].cpu().numpy().astype(np.int64)
        return codes


class KeptVoices:
    """The kept prompts of named voices, by seed: in memory, and in `folder` when there is one."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._prompts: dict[int, VoicePrompt] = {}

    def get(self, seed: int) -> VoicePrompt | None:
        prompt = self._prompts.get(seed)
        if prompt is None and self._folder is not None:
            prompt = self._read(self._folder / f"seed-{seed}.npz")
            if prompt is not None:
                self._prompts[seed] = prompt
        return prompt

    def keep(self, seed: int, prompt: VoicePrompt) -> None:
        self._prompts[seed] = prompt
        if self._folder is not None:
            try:
                self._write(self._folder / f"seed-{seed}.npz", prompt)
            except OSError as exc:  # the voice still works for this process
                log.warning("could not keep S1-mini voice seed %d on disk: %s", seed, exc)

    @staticmethod
    def _read(path: Path) -> VoicePrompt | None:
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                return VoicePrompt(str(data["text"]), data["codes"].astype(np.int64))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring the unreadable S1-mini voice %s: %s", path, exc)
            return None

    @staticmethod
    def _write(path: Path, prompt: VoicePrompt) -> None:
        """Atomically: a temp file in the same folder, then a rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, text=np.array(prompt.text), codes=prompt.codes)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
