"""The Kokoro engine with the real v1.0 int8 model and five Japanese voices.

Its graph calls are compared with kokoro-onnx's (the MIT reference, which feeds the same graph): the same
tokens, style row and speed give the same audio. jm_kumo reads English well enough for the grammar check.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.engines.test_espeak import CANDIDATES
from tests.support.kokoro_model import MODEL_NAME, hub_cache, hub_folder, vocab
from tests.support.speech_check import pick_spoken_sentence
from tts_server.engines.base import CancelToken, EngineLoadError, ReferenceAudio, SynthesisRequest, VoiceSelection
from tts_server.engines.kokoro.engine import KokoroEngine, token_batches
from tts_server.engines.kokoro.files import kokoro_missing, locate
from tts_server.engines.kokoro.phonemes import kokoro_phonemes, language_for
from tts_server.engines.kokoro.vocab import KOKORO_V1_VOCAB
from tts_server.errors import InvalidRequest, VoiceNotFound

RATE = 24_000
HUB_ID = "onnx-community/Kokoro-82M-v1.0-ONNX"


def speak(
    engine: KokoroEngine,
    text: str,
    voice: str = "jm_kumo",
    *,
    language: str | None = "en-us",
    speed: float = 1.0,
    reference: ReferenceAudio | None = None,
) -> NDArray[np.float32]:
    selection = VoiceSelection(voice, builtin=voice, language=language, reference=reference)
    chunks = list(engine.synthesize(SynthesisRequest(text=text, voice=selection, speed=speed), CancelToken()))
    assert chunks and all(chunk.sample_rate == RATE for chunk in chunks)
    return np.concatenate([chunk.samples for chunk in chunks])


def test_graph_calls_equal_kokoro_onnx(kokoro: KokoroEngine, kokoro_release: Path) -> None:
    from kokoro_onnx import Kokoro

    reference = Kokoro(str(kokoro_release / MODEL_NAME), str(kokoro_release / "voices_ja.npz"))
    phonemes = kokoro_phonemes(kokoro._phonemizer, "Please bring me a glass of cold water.", language_for("a"))
    tokens = reference.tokenizer.tokenize(phonemes)
    for voice, speed in (("jm_kumo", 1.0), ("jf_alpha", 1.3)):
        style = reference._style_for(reference.get_voice_style(voice), len(tokens))
        theirs, _ = reference._infer(tokens, style, speed)
        ours = kokoro.speak_tokens(tokens, voice, speed)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, np.clip(theirs, -1, 1), atol=1e-4)


def test_jm_kumo_reads_english(kokoro: KokoroEngine) -> None:
    right = sum(
        pick_spoken_sentence(speak(kokoro, sentence), RATE, CANDIDATES) == sentence for sentence in CANDIDATES[:4]
    )
    assert right >= 3


def test_listing_names_language_and_gender(kokoro: KokoroEngine) -> None:
    listed = {voice.voice_id: voice for voice in kokoro.voices()}
    assert listed["jm_kumo"].language == "ja" and listed["jm_kumo"].gender == "male"
    assert listed["jf_alpha"].gender == "female" and "Japanese" in listed["jf_alpha"].description
    # af_heart is not among these voices: `default` is the first one there is; alloy (af_alloy) is not Kokoro's here
    assert "jf_alpha" in listed["default"].description and not kokoro.has_voice("alloy")


def test_speed_is_the_graphs_own(kokoro: KokoroEngine) -> None:
    plain, quick = speak(kokoro, CANDIDATES[0]), speak(kokoro, CANDIDATES[0], speed=1.5)
    assert 0.55 < len(quick) / len(plain) < 0.8


def test_a_short_first_piece_then_the_rest(kokoro: KokoroEngine) -> None:
    text = "It was the best of times, it was the worst of times, it was the age of wisdom. " * 2
    request = SynthesisRequest(text=text, voice=VoiceSelection("jm_kumo", builtin="jm_kumo", language="en"))
    chunks = kokoro.synthesize(request, CancelToken())
    first = next(chunks)
    assert len(first.samples) < 3 * RATE and first.progress is not None and first.progress < 0.5
    chunks.close()


def test_languages(kokoro: KokoroEngine) -> None:
    assert len(speak(kokoro, "Hola, ¿cómo estás?", language="es")) > RATE // 2
    with pytest.raises(InvalidRequest, match="espeak") as refused:
        speak(kokoro, "Guten Tag.", language="de")
    assert refused.value.param == "language"
    with pytest.raises(VoiceNotFound):
        speak(kokoro, "Hello.", voice="af_nobody")


def test_token_batches_cut_at_punctuation_then_spaces() -> None:
    period, space, letter = KOKORO_V1_VOCAB["."], KOKORO_V1_VOCAB[" "], KOKORO_V1_VOCAB["a"]
    tokens = ([letter] * 300 + [period]) * 2 + [letter] * 10
    batches = token_batches(tokens, KOKORO_V1_VOCAB)
    assert [len(batch) for batch in batches] == [301, 311] and batches[0][-1] == period
    spaced = ([letter] * 9 + [space]) * 60
    assert all(len(batch) <= 510 and batch[-1] == space for batch in token_batches(spaced, KOKORO_V1_VOCAB))
    assert token_batches([letter] * 1000, KOKORO_V1_VOCAB, 400) == [[letter] * 400, [letter] * 400, [letter] * 200]


def test_approximate_cloning_picks_a_voice_of_the_references_kind(kokoro: KokoroEngine, tmp_path: Path) -> None:
    """A high-pitched reference makes jm_kumo's request speak with a female voice of the same language."""
    female = speak(kokoro, CANDIDATES[0], "jf_alpha")
    path = tmp_path / "ref.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(RATE)
        out.writeframes((np.clip(female, -1, 1) * 32767).astype("<i2").tobytes())
    reference = ReferenceAudio("her", path, CANDIDATES[0], "hash-her", len(female) / RATE, RATE)
    selection = VoiceSelection("her", builtin="jm_kumo", reference=reference, language="en")
    assert kokoro._voice_for(selection) != "jm_kumo"
    assert kokoro._voice_for(selection).startswith("jf_")


def test_the_vocabulary_is_kokoro_v1s() -> None:
    assert vocab() == KOKORO_V1_VOCAB


def test_hub_layout_folder(tmp_path: Path) -> None:
    folder = hub_folder(tmp_path / "hub", voices=("jm_kumo",))
    files = locate(str(folder), "int8", allow_download=False)
    assert files.model.name == "model_quantized.onnx" and list(files.voices) == ["jm_kumo"]
    assert files.vocab == KOKORO_V1_VOCAB  # read from tokenizer.json
    engine = KokoroEngine(str(folder))
    engine.load()
    assert engine._token_input() == "tokens"  # the input names come from the session
    assert pick_spoken_sentence(speak(engine, CANDIDATES[2]), RATE, CANDIDATES) == CANDIDATES[2]


def test_hub_id_from_the_cache_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    cache = hub_cache(tmp_path / "hf")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert kokoro_missing(HUB_ID, "int8") is None
    assert locate(HUB_ID, "int8", allow_download=True).voices
    missing = kokoro_missing(HUB_ID, "fp32")
    assert missing is not None and "onnx/model.onnx" in missing and "hf download" in missing
    with pytest.raises(EngineLoadError, match="offline"):
        locate(HUB_ID, "fp32", allow_download=True)  # offline: no attempt to download


def test_a_folder_without_a_model_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(EngineLoadError, match=re.escape("hf download onnx-community/Kokoro-82M-v1.0-ONNX")):
        KokoroEngine(str(tmp_path)).load()
