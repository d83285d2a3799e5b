"""The Kokoro engine: text -> Kokoro phonemes (espeak-ng) -> tokens -> the ONNX graph, piece by piece.

Each call gets the tokens padded with 0 at both ends, the voice's style row for that many phonemes
(row n - 1, as Kokoro's own pipeline indexes it) and the speed, under whatever input names the graph has
("input_ids" on the hub, "tokens" in kokoro-onnx's files). At most 510 phonemes go in one call; a
longer piece is cut at punctuation, then at a space.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
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
from tts_server.engines.kokoro.files import KokoroFiles, Precision, local_files, locate
from tts_server.engines.kokoro.phonemes import KokoroLanguage, kokoro_phonemes, language_for
from tts_server.engines.kokoro.voices import KokoroVoice, shared_names, voice_for_kind
from tts_server.engines.onnx_voices.phonemes import Phonemizer
from tts_server.engines.onnx_voices.pieces import text_pieces
from tts_server.engines.onnx_voices.reference import ReferenceReader, speed_to_match
from tts_server.engines.onnx_voices.session import GraphInput, graph_inputs, open_session, resolve_device
from tts_server.engines.speech_pace import CALIBRATION_TEXT, calibration_pace
from tts_server.errors import InvalidRequest, VoiceNotFound

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

KOKORO_ID = "kokoro"
SAMPLE_RATE = 24_000
MAX_TOKENS = 510
_DEFAULT_CHUNK_CHARS = 300
# ~4 words, under 2 s of audio: at Kokoro's ~0.45 s per second of audio (two idle cores), under 1 s to the
# first audio (bench/cpu_voices.md)
_FIRST_PIECE_CHARS = 24
_BREAKS = ".!?;:,—… "  # where a piece over MAX_TOKENS is cut, best first
# Request languages Kokoro speaks, by the codes clients send.
_LANGUAGE_LETTERS = {"en": "a", "en-us": "a", "en-gb": "b", "es": "e", "fr": "f", "fr-fr": "f", "hi": "h"}
_LANGUAGE_LETTERS |= {"it": "i", "ja": "j", "pt": "p", "pt-br": "p", "zh": "z", "cmn": "z"}


def kokoro_info(device: str = "cpu") -> EngineInfo:
    return EngineInfo(
        id=KOKORO_ID,
        name="Kokoro-82M v1.0 (ONNX)",
        sample_rate=SAMPLE_RATE,
        capabilities=EngineCapabilities(
            streaming=True, cloning=CloningSupport.APPROXIMATE, native_speed=True, speaker_tags=False
        ),
        device=device,
    )


def token_batches(tokens: list[int], vocab: dict[str, int], limit: int = MAX_TOKENS) -> list[list[int]]:
    """`tokens` in runs of at most `limit`, each cut after the best break within it."""
    batches: list[list[int]] = []
    ranks = {vocab[mark]: rank for rank, mark in enumerate(_BREAKS) if mark in vocab}
    while len(tokens) > limit:
        window = tokens[:limit]
        best = min(range(limit), key=lambda i: (ranks.get(window[i], len(_BREAKS)), -i))
        cut = best + 1 if window[best] in ranks else limit
        batches.append(tokens[:cut])
        tokens = tokens[cut:]
    return [*batches, tokens] if tokens else batches


class KokoroEngine:
    """Kokoro in this process (one request at a time): one session, voice tables loaded on first use."""

    def __init__(self, model: str, precision: Precision = "int8", *, threads: int = 1, device: str = "cpu") -> None:
        self._model, self._precision = model, precision
        self._threads, self._device = threads, resolve_device(device)
        self.info = kokoro_info(self._device)
        self._files = _present_files(model, precision)  # listing voices needs no loaded model
        self._names = sorted(self._files.voices) if self._files is not None else []
        self._shared = shared_names(self._names)
        self._phonemizer = Phonemizer()
        self._session: onnxruntime.InferenceSession | None = None
        self._inputs: dict[str, GraphInput] = {}
        self._styles: dict[str, NDArray[np.float32]] = {}
        self._references = ReferenceReader()
        self._own_pace: dict[str, float] = {}

    # --- catalogue ---------------------------------------------------------------------------------

    def _catalogue(self) -> None:
        """Files a worker downloaded after this (listing) instance was built appear here on the next look."""
        if self._files is None:
            self._files = _present_files(self._model, self._precision)
            self._names = sorted(self._files.voices) if self._files is not None else []
            self._shared = shared_names(self._names)

    def voices(self) -> Sequence[VoiceInfo]:
        self._catalogue()
        shared = [
            VoiceInfo(name, name.capitalize(), f"Kokoro {voice}. " + KokoroVoice(voice).description(), *_kind(voice))
            for name, voice in self._shared.items()
        ]
        own = [VoiceInfo(name, name, KokoroVoice(name).description(), *_kind(name)) for name in self._names]
        return shared + own

    def has_voice(self, name: str) -> bool:
        self._catalogue()
        key = name.strip().lower()
        return key in self._shared or key in self._files_voices()

    def _files_voices(self) -> dict[str, object]:
        return dict(self._files.voices) if self._files is not None else {}

    # --- loading -----------------------------------------------------------------------------------

    def load(self) -> None:
        files = locate(self._model, self._precision, allow_download=True)
        if self._files is None:  # downloaded just now: the names come with the files
            self._files, self._names = files, sorted(files.voices)
            self._shared = shared_names(self._names)
        self._phonemizer.load()
        self._session = open_session(files.model, threads=self._threads, device=self._device)
        self._inputs = graph_inputs(self._session)
        if self._token_input() is None or not {"style", "speed"} <= set(self._inputs):
            raise EngineLoadError(f"{files.model} is not a Kokoro graph (inputs {sorted(self._inputs)}).")
        log.info("Kokoro loaded from %s (%s, %d voices)", files.model, self._precision, len(files.voices))

    def _token_input(self) -> str | None:
        return next((name for name in ("input_ids", "tokens") if name in self._inputs), None)

    # --- synthesis ---------------------------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        voice = self._voice_for(request.voice)
        language = self._language_for(request.voice, voice)
        speed = request.speed * self._reference_speed(request.voice, voice)
        pieces = text_pieces(request.text, request.max_chunk_chars or _DEFAULT_CHUNK_CHARS, _FIRST_PIECE_CHARS)
        for done, piece in enumerate(pieces, start=1):
            if cancel.cancelled:
                return
            audio = self.speak_text(normalize_text(piece, language.espeak_voice), voice, language, speed)
            if len(audio):
                yield AudioChunk(audio, SAMPLE_RATE, progress=done / len(pieces))

    def speak_text(self, text: str, voice: str, language: KokoroLanguage, speed: float) -> NDArray[np.float32]:
        vocab = self._loaded_files().vocab
        tokens = [vocab[symbol] for symbol in kokoro_phonemes(self._phonemizer, text, language) if symbol in vocab]
        parts = [self.speak_tokens(batch, voice, speed) for batch in token_batches(tokens, vocab)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def speak_tokens(self, tokens: list[int], voice: str, speed: float) -> NDArray[np.float32]:
        """One call of the graph: [0, *tokens, 0], the style row for len(tokens), the speed."""
        assert self._session is not None, "KokoroEngine.load() must be called before synthesize()"
        style = self._style(voice)
        token_input = self._token_input()
        assert token_input is not None
        inputs = {
            token_input: np.array([[0, *tokens, 0]], dtype=self._inputs[token_input].dtype),
            "style": style[min(len(tokens), len(style)) - 1].reshape(1, -1).astype(self._inputs["style"].dtype),
            "speed": np.array([speed], dtype=self._inputs["speed"].dtype),
        }
        audio = self._session.run(None, inputs)[0]
        return np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)

    def _style(self, voice: str) -> NDArray[np.float32]:
        if voice not in self._styles:
            self._styles[voice] = self._loaded_files().voices[voice].load()
        return self._styles[voice]

    def _loaded_files(self) -> KokoroFiles:
        if self._files is None:
            raise RuntimeError("KokoroEngine.load() must be called before synthesize()")
        return self._files

    def _voice_for(self, selection: VoiceSelection) -> str:
        key = (selection.builtin or "default").strip().lower()
        voice = self._shared.get(key, key)
        if voice not in self._files_voices():
            raise VoiceNotFound(selection.builtin or key)
        if selection.reference is not None:
            low = self._references.traits(selection.reference).low_voice
            voice = voice if low is None else voice_for_kind(voice, low, self._names)
        return voice

    @staticmethod
    def _language_for(selection: VoiceSelection, voice: str) -> KokoroLanguage:
        """The voice's language, or the request's when Kokoro speaks it (a voice may speak another one)."""
        if selection.language is None:
            return language_for(KokoroVoice(voice).language_code)
        letter = _LANGUAGE_LETTERS.get(selection.language.strip().lower())
        if letter is None:
            spoken = ", ".join(sorted(_LANGUAGE_LETTERS))
            raise InvalidRequest(
                f"Kokoro does not speak '{selection.language}'; it speaks {spoken}. For other languages use model "
                "'espeak' (or its language voices, such as voice 'de').",
                param="language",
            )
        return language_for(letter)

    def _reference_speed(self, selection: VoiceSelection, voice: str) -> float:
        if selection.reference is None:
            return 1.0
        return speed_to_match(self._references.traits(selection.reference).words_per_second, self._pace_of(voice))

    def _pace_of(self, voice: str) -> float:
        """Words per second of speech the voice makes at speed 1 (measured once per voice)."""
        if voice not in self._own_pace:
            audio = self.speak_text(CALIBRATION_TEXT, voice, language_for("a"), 1.0)
            self._own_pace[voice] = calibration_pace(audio, SAMPLE_RATE)
        return self._own_pace[voice]


def _kind(voice: str) -> tuple[str | None, str]:
    """(gender, language) for VoiceInfo."""
    return KokoroVoice(voice).gender, KokoroVoice(voice).language


def _present_files(model: str, precision: Precision) -> KokoroFiles | None:
    try:
        return local_files(model, precision)
    except EngineLoadError:
        return None  # load() reports what is wrong with them


def create_engine(model: str, precision: Precision = "int8", threads: int = 1, device: str = "cpu") -> KokoroEngine:
    """The factory worker processes call (pickled as a partial with the settings' values)."""
    return KokoroEngine(model, precision, threads=threads, device=device)
