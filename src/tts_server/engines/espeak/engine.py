"""The built-in CPU engine: eSpeak NG through ctypes, one sentence per audio chunk.

Speed is espeak's own rate (words per minute), so pitch never changes with speed. Its rate floor is
80 wpm; slower requests are stretched with pauses between words (espeakWORDGAP) rather than failing.
Above 450 wpm the bundled library speeds up with its built-in sonic, which covers every speed up to 4x.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import espeakng_loader
import numpy as np
from numpy.typing import NDArray

from tts_server.audio.samples import to_float32
from tts_server.audio.text import normalize_text, split_sentences
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
from tts_server.engines.espeak.cloning import CALIBRATION_TEXT, ReferenceMatcher
from tts_server.engines.espeak.native import SAMPLE_RATE, EspeakError, EspeakLibrary, Parameter
from tts_server.engines.espeak.voices import CATALOGUE, DEFAULT_RATE, DEFAULT_VOICE, LISTED_LANGUAGES, EspeakVoice
from tts_server.errors import InvalidRequest, VoiceNotFound

RATE_MIN = 80  # espeak's slowest rate (words per minute)
RATE_MAX = 1000  # past ~450 espeak speeds up with sonic; beyond this it stops being speech
_WORDGAP_SECONDS = 0.03  # one espeakWORDGAP unit lengthens each word by about this much at RATE_MIN
_DEFAULT_CHUNK_CHARS = 300

ESPEAK_INFO = EngineInfo(
    id="espeak",
    name="eSpeak NG (built-in)",
    sample_rate=SAMPLE_RATE,
    capabilities=EngineCapabilities(
        streaming=True,
        cloning=CloningSupport.APPROXIMATE,
        native_speed=True,
        speaker_tags=False,
        sampling_params=frozenset(),
    ),
)


def rate_settings(words_per_minute: float) -> tuple[int, int]:
    """espeak (rate, word gap) for a target rate; below RATE_MIN the gap makes up the difference."""
    if words_per_minute >= RATE_MIN:
        return min(round(words_per_minute), RATE_MAX), 0
    extra_per_word = 60 / words_per_minute - 60 / RATE_MIN
    return RATE_MIN, round(extra_per_word / _WORDGAP_SECONDS)


def scan_languages(data_path: Path) -> dict[str, str]:
    """Language code (and voice file name) -> espeak voice identifier, read from the data folder.

    Codes are what clients send ("en-gb", "de"); identifiers are what espeak_SetVoiceByName needs
    ("gmw/en"): "en-gb" itself is not a voice name. Where several voices claim a code, the one that
    gives it the best (lowest) priority wins, as espeak's own language matching does.
    """
    best: dict[str, tuple[int, str]] = {}
    lang_dir = data_path / "lang"
    for path in sorted(p for p in lang_dir.rglob("*") if p.is_file()):
        identifier = path.relative_to(lang_dir).as_posix()
        claims = [(path.name.lower(), 0)]
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "language":
                claims.append((fields[1].lower(), int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else 5))
        for code, priority in claims:
            if code not in best or priority < best[code][0]:
                best[code] = (priority, identifier)
    return {code: identifier for code, (_, identifier) in best.items()}


def scan_variants(data_path: Path) -> frozenset[str]:
    """Variant names ("klatt4", "f3") usable after a "+"; none when the data folder is missing."""
    folder = data_path / "voices" / "!v"
    return frozenset(p.name for p in folder.iterdir() if " " not in p.name) if folder.is_dir() else frozenset()


class EspeakEngine:
    """eSpeak NG in this process. Not thread-safe (nor is the library): one synthesis at a time."""

    info = ESPEAK_INFO

    def __init__(
        self, *, library_path: str | None = None, data_path: str | None = None, reference_cache_size: int = 128
    ) -> None:
        self._library_path = library_path or espeakng_loader.get_library_path()
        self._data_path = Path(data_path or espeakng_loader.get_data_path())
        self._lib: EspeakLibrary | None = None
        # Read from the data folder (~10 ms), so voice questions need no library: the server's main
        # process answers them while only the workers load it.
        self._languages = scan_languages(self._data_path)
        self._variants = scan_variants(self._data_path)
        self._references = ReferenceMatcher(self._speak_calibration, SAMPLE_RATE, reference_cache_size)

    def load(self) -> None:
        try:
            self._lib = EspeakLibrary(self._library_path, self._data_path)
        except EspeakError as exc:
            raise EngineLoadError(
                f"The built-in espeak engine could not start ({exc}). Reinstall it with "
                "`pip install --force-reinstall espeakng-loader`."
            ) from exc

    def voices(self) -> Sequence[VoiceInfo]:
        catalogue = [
            VoiceInfo(voice.name, voice.name.capitalize(), voice.description, voice.gender, voice.language)
            for voice in CATALOGUE.values()
        ]
        languages = [
            VoiceInfo(code, name, f"espeak {name} voice", None, code)
            for code, name in LISTED_LANGUAGES.items()
            if code in self._languages
        ]
        return catalogue + languages

    def has_voice(self, name: str) -> bool:
        return self._builtin_voice(name) is not None

    def _builtin_voice(self, name: str) -> EspeakVoice | None:
        """A catalogue name, a language code ("de"), or a language with a variant ("en-gb+f3")."""
        key = name.strip().lower()
        if key in CATALOGUE:
            return CATALOGUE[key]
        language, _, variant = name.strip().partition("+")
        if language.lower() not in self._languages or (variant and variant not in self._variants):
            return None
        return replace(DEFAULT_VOICE, name=key, language=language.lower(), variant=variant or DEFAULT_VOICE.variant)

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        lib = self._loaded()
        voice = self._voice_for(request.voice)
        espeak_name = f"{self._languages[voice.language]}+{voice.variant}"
        rate, word_gap = rate_settings(voice.rate * request.speed)
        sentences = split_sentences(request.text, request.max_chunk_chars or _DEFAULT_CHUNK_CHARS)
        for done, sentence in enumerate(sentences, start=1):
            if cancel.cancelled:
                return
            # Re-applied per sentence (cheap): the library's state is global to the process.
            lib.set_voice(espeak_name)
            self._set_parameters(lib, voice.pitch, voice.pitch_range, rate, word_gap)
            # Normalised here, a sentence at a time, so the first sentence is spoken without waiting for the rest.
            samples = lib.synthesize(normalize_text(sentence, request.voice.language or voice.language))
            if len(samples):
                # int16 as espeak made it: wav/pcm responses take it as is (tts_server.audio.samples).
                yield AudioChunk(samples, SAMPLE_RATE, progress=done / len(sentences))

    def _loaded(self) -> EspeakLibrary:
        if self._lib is None:
            raise RuntimeError("EspeakEngine.load() must be called before synthesize()")
        return self._lib

    @staticmethod
    def _set_parameters(lib: EspeakLibrary, pitch: int, pitch_range: int, rate: int, word_gap: int) -> None:
        lib.set_parameter(Parameter.PITCH, pitch)
        lib.set_parameter(Parameter.RANGE, pitch_range)
        lib.set_parameter(Parameter.RATE, rate)
        lib.set_parameter(Parameter.WORDGAP, word_gap)

    def _voice_for(self, selection: VoiceSelection) -> EspeakVoice:
        """The catalogue/language voice, then the requested language, then the reference's style."""
        voice = DEFAULT_VOICE
        if selection.builtin is not None:
            found = self._builtin_voice(selection.builtin)
            if found is None:
                raise VoiceNotFound(selection.builtin)
            voice = found
        if selection.language is not None:
            voice = replace(voice, language=self._language_for(selection.language, voice))
        if selection.reference is not None:
            style = self._references.style_for(selection.reference)
            voice = replace(
                voice,
                variant=style.variant or voice.variant,
                pitch=voice.pitch if style.pitch is None else style.pitch,
                rate=style.rate or voice.rate,
            )
        return voice

    def _language_for(self, requested: str, voice: EspeakVoice) -> str:
        """The requested language, except that a bare "en" keeps an English voice's own accent."""
        language = requested.strip().lower()
        if language not in self._languages:
            raise InvalidRequest(f"The espeak engine has no language '{requested}'.", param="language")
        return voice.language if voice.language.partition("-")[0] == language else language

    def _speak_calibration(self, variant: str, pitch: int) -> NDArray[np.float32]:
        lib = self._loaded()
        lib.set_voice(f"{self._languages[DEFAULT_VOICE.language]}+{variant}")
        self._set_parameters(lib, pitch, 50, DEFAULT_RATE, 0)
        return to_float32(lib.synthesize(CALIBRATION_TEXT))


def create_engine() -> EspeakEngine:
    """The factory worker processes call (referenced by import path, so it pickles)."""
    return EspeakEngine()
