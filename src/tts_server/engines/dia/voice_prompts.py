"""Built-in Dia voices that sound the same every time: each speaks from a stored prompt made once per model.

Dia has no voices of its own: without an audio prompt, the seed and the text decide the timbre, so a seed voice
changes from text to text. On a built-in voice's first use, Dia speaks `PROMPT_TEXT` with the voice's seed; the
codes and the sentence are kept (store/dia_prompts.py, keyed by a fingerprint of the model's files) and from
then on condition every request with that voice, as a cloned voice's reference does. Requests that need a
prompt being made wait for it (one generation per voice, however many arrive together).

A voice given a seed of its own (a mapping's or a request's `voice_seed`) is that seed, as before: it is not
stored, and only a long text keeps one voice (its later segments continue from the first).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.base import VoiceSelection
from tts_server.engines.dia.loading import WEIGHT_FILES
from tts_server.engines.dia.voices import BUILTIN_SEEDS
from tts_server.engines.weights_fingerprint import weights_fingerprint
from tts_server.store.dia_prompts import PromptFiles, StoredPrompt

log = logging.getLogger(__name__)

PROMPT_TEXT = "Hello, it is nice to meet you. This is how my voice sounds, today and every day."
PROMPT_MAX_SECONDS = 10.0  # Dia's authors: 5-10 s prompts clone best
MIN_PROMPT_FRAMES = 8  # shorter (an EOS at once) conditions on nothing worth keeping
_RECIPE = f"v1|{PROMPT_TEXT}|temperature=1.2,top_p=0.95,top_k=45,cfg=3.0"  # a new recipe makes new prompts

JobT = TypeVar("JobT")


def model_fingerprint(model_path: Path) -> str:
    """The fingerprint of the Dia weights in `model_path` (shards too), with this module's prompt recipe."""
    folder = Path(model_path)
    weights = {*folder.glob("*.safetensors"), *folder.glob("*.bin"), *(folder / name for name in WEIGHT_FILES)}
    return weights_fingerprint(folder / "config.json", weights, _RECIPE)


class VoicePrompts(Generic[JobT]):
    """The built-in voices' prompts (memory, then disk) and the jobs waiting for one being made. Worker thread."""

    def __init__(self, files: PromptFiles | None, *, max_frames: int) -> None:
        self.files = files
        self.max_frames = max_frames
        self.generated = 0  # prompts made by this process (the rest came from disk)
        self._cache: dict[str, StoredPrompt] = {}
        self._waiting: dict[str, list[JobT]] = {}
        if files is not None:
            files.sweep()

    @staticmethod
    def voice_of(voice: VoiceSelection) -> str | None:
        """The built-in voice whose stored prompt conditions `voice`: None for references and own seeds."""
        if voice.reference is not None or voice.builtin is None:
            return None
        seed = BUILTIN_SEEDS.get(voice.builtin)
        return voice.builtin if seed is not None and voice.seed in (None, seed) else None

    @property
    def waiting(self) -> int:
        """Jobs parked until a prompt is made."""
        return sum(len(jobs) for jobs in self._waiting.values())

    @property
    def making(self) -> int:
        """Prompts being made (each by one job)."""
        return len(self._waiting)

    def get(self, name: str) -> StoredPrompt | None:
        prompt = self._cache.get(name)
        if prompt is None and self.files is not None:
            prompt = self.files.load(name)
            if prompt is not None:
                self._cache[name] = prompt
        return prompt

    def wait_for(self, name: str, job: JobT) -> bool:
        """Park `job` until the prompt of `name` exists; True when no one is making it yet (the caller must)."""
        first = name not in self._waiting
        self._waiting.setdefault(name, []).append(job)
        return first

    def keep(self, name: str, codes: NDArray[np.int64], audio: NDArray[np.float32], sample_rate: int) -> list[JobT]:
        """Store a prompt just made (a too-short one is not kept); returns the jobs that waited for it."""
        if len(codes) >= MIN_PROMPT_FRAMES:
            prompt = StoredPrompt(codes, PROMPT_TEXT, BUILTIN_SEEDS[name])
            self._cache[name] = prompt
            self.generated += 1
            self._save(name, prompt, audio, sample_rate)
        else:
            log.warning("Dia's prompt for voice '%s' ended after %d frames; not kept", name, len(codes))
        return self._waiting.pop(name, [])

    def abandon(self, name: str) -> list[JobT]:
        """Making the prompt failed: the jobs that waited for it."""
        return self._waiting.pop(name, [])

    def _save(self, name: str, prompt: StoredPrompt, audio: NDArray[np.float32], sample_rate: int) -> None:
        if self.files is None:
            return
        try:
            if self.files.save(name, prompt, audio, sample_rate):
                log.info("Stored Dia's prompt for voice '%s' in %s", name, self.files.directory / name)
            else:  # made meanwhile by another process: speak from that one, as later requests will
                self._cache[name] = self.files.load(name) or prompt
        except OSError as exc:  # kept in memory: this process stays consistent, the next one makes it again
            log.warning("Could not store Dia's prompt for voice '%s': %s", name, exc)
