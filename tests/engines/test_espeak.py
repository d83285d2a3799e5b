"""The built-in espeak engine, with the real library: audio, speed, voices, languages, cancel, cloning."""

from __future__ import annotations

import itertools
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.support.speech_check import pick_spoken_sentence
from tts_server.audio.effects import median_pitch_hz
from tts_server.audio.samples import to_float32
from tts_server.engines.base import (
    CancelToken,
    CloningSupport,
    EngineLoadError,
    ReferenceAudio,
    SynthesisRequest,
    VoiceSelection,
)
from tts_server.engines.espeak.engine import EspeakEngine, rate_settings
from tts_server.engines.espeak.voices import CATALOGUE, LISTED_LANGUAGES
from tts_server.errors import InvalidRequest, VoiceNotFound

RATE = 22_050
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
CANDIDATES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please bring me a glass of cold water.",
    "My sister works at the hospital on weekends.",
    "We will meet at the train station tomorrow morning.",
    "Turn off the lights before you leave the house.",
    "The children played in the garden all afternoon.",
]


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    engine = EspeakEngine()
    engine.load()
    return engine


def speak(
    engine: EspeakEngine,
    text: str,
    voice: str | None = "default",
    *,
    speed: float = 1.0,
    language: str | None = None,
    reference: ReferenceAudio | None = None,
) -> NDArray[np.float32]:
    selection = VoiceSelection(voice_id=voice or "ref", builtin=voice, language=language, reference=reference)
    chunks = list(engine.synthesize(SynthesisRequest(text=text, voice=selection, speed=speed), CancelToken()))
    # espeak's own 16-bit samples, passed on unconverted (tts_server.audio.samples)
    assert all(chunk.sample_rate == RATE and chunk.samples.dtype == np.int16 for chunk in chunks)
    return np.concatenate([to_float32(chunk.samples) for chunk in chunks]) if chunks else np.zeros(0, np.float32)


def pitch(samples: NDArray[np.float32]) -> float:
    hz = median_pitch_hz(samples, RATE)
    assert hz is not None, "no voiced speech found"
    return hz


def spectral_centroid(samples: NDArray[np.float32]) -> float:
    magnitude = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float((magnitude * np.fft.rfftfreq(len(samples), 1 / RATE)).sum() / magnitude.sum())


def test_info_describes_the_engine(engine: EspeakEngine) -> None:
    assert engine.info.id == "espeak"
    assert engine.info.sample_rate == RATE
    caps = engine.info.capabilities
    assert caps.streaming and caps.native_speed and not caps.speaker_tags
    assert caps.cloning is CloningSupport.APPROXIMATE
    assert caps.sampling_params == frozenset()


def test_audio_is_speech_whose_length_follows_the_text(engine: EspeakEngine) -> None:
    short = speak(engine, "Hello there.")
    long = speak(engine, "Hello there. " + SENTENCE + " " + SENTENCE)
    assert 0.5 < len(short) / RATE < 2.0
    assert float(np.abs(short).max()) > 0.05
    assert 4.0 < len(long) / len(short) < 12.0


def test_one_chunk_per_sentence(engine: EspeakEngine) -> None:
    text = "This is the first sentence here. And this one is the second. The third one ends it."
    request = SynthesisRequest(text=text, voice=VoiceSelection(voice_id="default", builtin="default"))
    assert len(list(engine.synthesize(request, CancelToken()))) == 3


def test_speed_two_halves_the_duration_and_keeps_the_pitch(engine: EspeakEngine) -> None:
    normal, fast = speak(engine, SENTENCE), speak(engine, SENTENCE, speed=2.0)
    assert 0.4 <= len(fast) / len(normal) <= 0.65
    assert pitch(fast) == pytest.approx(pitch(normal), rel=0.15)


def test_speeds_beyond_espeaks_own_rate_range(engine: EspeakEngine) -> None:
    normal = len(speak(engine, SENTENCE))
    # 4x is past espeak's 450 wpm (its sonic speed-up takes over); 0.25x is below its 80 wpm floor
    # (pauses between words make up the rest).
    assert 0.18 <= len(speak(engine, SENTENCE, speed=4.0)) / normal <= 0.35
    assert 3.0 <= len(speak(engine, SENTENCE, speed=0.25)) / normal <= 5.0
    assert rate_settings(175 * 4) == (700, 0)
    rate, gap = rate_settings(175 * 0.25)
    assert rate == 80 and gap > 0


def test_every_catalogue_voice_speaks_and_sounds_different(engine: EspeakEngine) -> None:
    features: dict[str, tuple[float, float]] = {}
    audio: dict[str, NDArray[np.float32]] = {}
    for name in CATALOGUE:
        samples = speak(engine, SENTENCE, name)
        assert len(samples) / RATE > 1.5, name
        audio[name] = samples
        features[name] = (pitch(samples), spectral_centroid(samples))
    distinct = 0
    pairs = list(itertools.combinations(CATALOGUE, 2))
    for a, b in pairs:
        assert not np.array_equal(audio[a], audio[b]), (a, b)
        (pitch_a, centroid_a), (pitch_b, centroid_b) = features[a], features[b]
        if abs(np.log(pitch_a / pitch_b)) > 0.05 or abs(np.log(centroid_a / centroid_b)) > 0.05:
            distinct += 1
    assert distinct >= 0.95 * len(pairs), features


def test_openai_and_dia_voice_names_are_all_built_in(engine: EspeakEngine) -> None:
    openai = [
        "alloy",
        "ash",
        "ballad",
        "coral",
        "echo",
        "fable",
        "onyx",
        "nova",
        "sage",
        "shimmer",
        "verse",
        "marin",
        "cedar",
    ]
    dia = ["aria", "atlas", "luna", "kai", "zara", "nova"]
    for name in ["default", *openai, *dia]:
        assert engine.has_voice(name) and engine.has_voice(name.upper()), name


def test_voices_lists_the_catalogue_then_languages(engine: EspeakEngine) -> None:
    voices = engine.voices()
    ids = [voice.voice_id for voice in voices]
    assert ids[: len(CATALOGUE)] == list(CATALOGUE)
    assert set(LISTED_LANGUAGES) <= set(ids)
    assert {voice.gender for voice in voices[: len(CATALOGUE)]} >= {"male", "female"}
    assert all(voice.description for voice in voices)


def test_language_voices(engine: EspeakEngine) -> None:
    for name in ["en-gb", "de", "fr", "es", "en-us+f3", "de+klatt4", "EN-GB"]:
        assert engine.has_voice(name), name
    for name in ["xx", "en-us+no-such-variant", "", "+f3"]:
        assert not engine.has_voice(name), name
    english = speak(engine, "Guten Morgen, wie geht es dir heute?", "en-us")
    german = speak(engine, "Guten Morgen, wie geht es dir heute?", "de")
    french = speak(engine, "Bonjour, comment allez-vous aujourd'hui?", "fr")
    assert len(german) / RATE > 1.0 and len(french) / RATE > 1.0
    assert abs(len(german) - len(english)) > 0.05 * len(english)  # German rules, not English ones


def test_language_overrides_a_catalogue_voice_but_keeps_its_timbre(engine: EspeakEngine) -> None:
    text = "Guten Morgen, wie geht es dir heute?"
    english_aria, german_aria = speak(engine, text, "aria"), speak(engine, text, "aria", language="de")
    german_default = speak(engine, text, "default", language="de")
    assert abs(len(german_aria) - len(english_aria)) > 0.05 * len(english_aria)
    assert pitch(german_aria) == pytest.approx(pitch(english_aria), rel=0.2)
    assert pitch(german_aria) > 1.5 * pitch(german_default)


def test_a_bare_language_keeps_the_voices_own_accent(engine: EspeakEngine) -> None:
    text = "Can you pass me the tomato and the banana, please?"  # said differently in en-us and en-gb
    for voice, other_accent in [("default", "en-gb"), ("fable", "en-us")]:
        own = len(speak(engine, text, voice))
        assert len(speak(engine, text, voice, language="en")) == pytest.approx(own, rel=0.005), voice
        assert abs(len(speak(engine, text, voice, language=other_accent)) - own) > 0.02 * own, voice


def test_unknown_voice_or_language_is_refused(engine: EspeakEngine) -> None:
    with pytest.raises(VoiceNotFound):
        speak(engine, "Hello.", "no-such-voice")
    with pytest.raises(InvalidRequest):
        speak(engine, "Hello.", "default", language="xx")


def test_cancel_stops_after_the_current_sentence(engine: EspeakEngine) -> None:
    text = " ".join(f"This is sentence number {n} of the test." for n in range(1, 6))
    cancel = CancelToken()
    request = SynthesisRequest(text=text, voice=VoiceSelection(voice_id="default", builtin="default"))
    chunks: Iterator[object] = engine.synthesize(request, cancel)
    next(chunks)
    cancel.cancel()
    assert list(chunks) == []


def test_default_voice_says_the_requested_words(engine: EspeakEngine) -> None:
    picked = [pick_spoken_sentence(speak(engine, sentence), RATE, CANDIDATES) for sentence in CANDIDATES]
    correct = sum(p == sentence for p, sentence in zip(picked, CANDIDATES, strict=True))
    assert correct >= 5, picked  # chance is 1 in 6 per sentence
    assert pick_spoken_sentence(np.zeros(RATE, np.float32), RATE, CANDIDATES) is None


def _write_wav(path: Path, samples: NDArray[np.float32]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def _reference(path: Path, samples: NDArray[np.float32], transcript: str, content_hash: str) -> ReferenceAudio:
    _write_wav(path, samples)
    return ReferenceAudio("ref", path, transcript, content_hash, len(samples) / RATE, RATE)


@pytest.mark.parametrize("source_voice", ["coral", "onyx", "zara"])
def test_reference_voice_matches_its_pitch(engine: EspeakEngine, tmp_path: Path, source_voice: str) -> None:
    recording = speak(engine, SENTENCE, source_voice)
    reference = _reference(tmp_path / "ref.wav", recording, SENTENCE, f"hash-{source_voice}")
    cloned = speak(engine, "Good morning, how are you today?", None, reference=reference)
    assert pitch(cloned) == pytest.approx(pitch(recording), rel=0.15)


def test_reference_voice_matches_its_speaking_rate(engine: EspeakEngine, tmp_path: Path) -> None:
    fast = _reference(tmp_path / "fast.wav", speak(engine, SENTENCE, speed=1.6), SENTENCE, "hash-fast")
    slow = _reference(tmp_path / "slow.wav", speak(engine, SENTENCE, speed=0.7), SENTENCE, "hash-slow")
    text = "Please bring me a glass of cold water from the kitchen."
    fast_clone, slow_clone = speak(engine, text, None, reference=fast), speak(engine, text, None, reference=slow)
    assert 1.7 < len(slow_clone) / len(fast_clone) < 2.9  # the references differ by 1.6 / 0.7 = 2.3x


def test_reference_features_are_derived_once_per_content(engine: EspeakEngine, tmp_path: Path) -> None:
    recording = speak(engine, SENTENCE, "luna")
    reference = _reference(tmp_path / "luna.wav", recording, SENTENCE, "hash-luna-once")
    first = pitch(speak(engine, "Good morning to you.", None, reference=reference))
    reference.audio_path.unlink()  # a second request must not need the file again
    second = pitch(speak(engine, "Good morning to you.", None, reference=reference))
    assert second == pytest.approx(first, rel=0.05)
    assert first == pytest.approx(pitch(recording), rel=0.15)


def test_unreadable_reference_falls_back_to_the_base_voice(engine: EspeakEngine, tmp_path: Path) -> None:
    broken = ReferenceAudio("ref", tmp_path / "missing.wav", "", "hash-missing", 1.0, RATE)
    samples = speak(engine, "Good morning to you.", "default", reference=broken)
    assert pitch(samples) == pytest.approx(pitch(speak(engine, "Good morning to you.")), rel=0.1)


def test_load_failure_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(EngineLoadError, match="espeakng-loader"):
        EspeakEngine(library_path=str(tmp_path / "libespeak-ng.so")).load()
