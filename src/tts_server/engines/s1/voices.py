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
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tts_server.audio.decode import AudioDecodeError, decode_audio
from tts_server.engines.base import ReferenceAudio, VoiceInfo
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.errors import AudioProcessingError, InvalidRequest

if TYPE_CHECKING:
    from tts_server.engines.s1.codec import S1Codec

log = logging.getLogger(__name__)

# name -> seed. The names are the other engines', so every client's voice list works with S1-mini too.
BUILTIN_SEEDS: dict[str, int] = {
    "default": 1234,
    "aria": 2001,
    "atlas": 2002,
    "luna": 2003,
    "kai": 2004,
    "zara": 2005,
    "nova": 2006,
    "alloy": 3001,
    "ash": 3002,
    "ballad": 3003,
    "coral": 3004,
    "echo": 3005,
    "fable": 3006,
    "onyx": 3007,
    "sage": 3008,
    "shimmer": 3009,
    "verse": 3010,
    "marin": 3011,
    "cedar": 3012,
}

# What a named voice says the first time, with its seed; its codes become the voice's prompt.
VOICE_SAMPLE_TEXT = (
    "Hello, and welcome. I will read your text in this voice, calmly and clearly, from beginning to end."
)
VOICE_SAMPLE_FRAMES = 320  # cap on the sample's frames (~15 s; the sentence takes ~7 s)
MAX_REFERENCE_SECONDS = 30.0  # longer references cost context and time and add little


def builtin_voices() -> list[VoiceInfo]:
    return [
        VoiceInfo(
            voice_id=name,
            name=name.capitalize(),
            description=f"S1-mini seed voice (seed {seed}): its first generation is kept as its prompt, so it keeps "
            "one timbre across requests and restarts. Clone a reference voice for a voice of your choosing.",
        )
        for name, seed in BUILTIN_SEEDS.items()
    ]


def seed_of(builtin: str | None, seed: int | None) -> int:
    """The seed whose kept sample is the voice: a mapping's own seed, else the named voice's."""
    if seed is not None:
        return seed
    return BUILTIN_SEEDS.get((builtin or "default").lower(), BUILTIN_SEEDS["default"])


class ReferencePrompts:
    """Reference audio encoded to codes once per content hash; a bounded LRU cache."""

    def __init__(self, codec: S1Codec, *, capacity: int = 16) -> None:
        self._codec = codec
        self._capacity = capacity
        self._prompts: OrderedDict[str, VoicePrompt] = OrderedDict()
        self.encodings = 0  # references encoded (the rest came from the cache)

    def prompt(self, reference: ReferenceAudio) -> VoicePrompt:
        """The reference's words and codes, encoded on first use."""
        transcript = " ".join(reference.transcript.split())
        if not transcript:  # before the cache: another voice may share this audio
            raise InvalidRequest(
                f"Reference voice '{reference.voice_id}' has no transcript; S1-mini needs the words of the reference "
                "to clone it. Add a transcript to the voice (or upload it with auto-transcription on).",
                param="voice",
            )
        cached = self._prompts.get(reference.content_hash)
        if cached is not None:
            self._prompts.move_to_end(reference.content_hash)
            return VoicePrompt(transcript, cached.codes)
        prompt = VoicePrompt(transcript, self._encode(reference))
        self.encodings += 1
        self._prompts[reference.content_hash] = prompt
        if len(self._prompts) > self._capacity:
            self._prompts.popitem(last=False)
        return prompt

    def _encode(self, reference: ReferenceAudio) -> np.ndarray:
        if reference.duration > MAX_REFERENCE_SECONDS:
            raise AudioProcessingError(
                f"Reference voice '{reference.voice_id}' is {reference.duration:.1f} s long; S1-mini clones from at "
                f"most {MAX_REFERENCE_SECONDS:.0f} s (10-20 s works well). Upload a shorter clip.",
                param="voice",
            )
        rate = self._codec.sample_rate
        try:
            decoded = decode_audio(
                reference.audio_path.read_bytes(), target_rate=rate, max_seconds=MAX_REFERENCE_SECONDS
            )
        except (OSError, AudioDecodeError) as exc:
            raise AudioProcessingError(f"Reference voice '{reference.voice_id}' could not be read: {exc}") from exc
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
