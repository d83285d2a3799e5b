# ruff: noqa: RUF001, RUF003  (IPA and typographic punctuation are what these tests are about)
"""Phonemes for the ONNX voices from the server's espeak-ng, against the references they must match.

Kokoro's phonemes are compared with misaki's (the G2P Kokoro v1.0 was trained with) on the same espeak-ng
library: its EspeakG2P for Spanish, French, Italian, Portuguese and Hindi, its EspeakFallback for English.
Piper's clause terminators are checked here against the rules espeak applies; the ids themselves are compared
with piper-tts in tests/engines/piper.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from misaki.espeak import EspeakFallback, EspeakG2P

from tts_server.engines.espeak.native import PhonemeClause
from tts_server.engines.kokoro.phonemes import kokoro_phonemes, language_for
from tts_server.engines.onnx_voices.phonemes import Phonemizer, terminator_of

SENTENCES = {
    "a": [
        "Hello there, how are you today?",
        "The quick brown fox jumps over the lazy dog.",
        "I'd like a cheeseburger; please, judge (quickly)!",
        "It's \"quoted\" — isn't it... really?",
        "Thirty-five thousand people watched the game in nineteen ninety-nine.",
    ],
    "b": ["Hello there, how are you today?", "The weather in Britain is rather unpredictable."],
    "e": ["Hola, ¿cómo estás? Muy bien, gracias.", "El perro corre por el parque."],
    "f": ["Bonjour, comment allez-vous ? Très bien, merci.", "Le chat dort sur le canapé."],
    "i": ["Ciao, come stai? Sto bene, grazie."],
    "p": ["Olá, tudo bem? Estou ótimo, obrigado."],
    "h": ["नमस्ते, आप कैसे हैं?"],
}
CASES = [(code, sentence) for code, sentences in SENTENCES.items() for sentence in sentences]


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    loaded = Phonemizer()
    loaded.load()
    return loaded


@pytest.mark.parametrize(("code", "sentence"), CASES)
def test_kokoro_phonemes_equal_misakis(phonemizer: Phonemizer, code: str, sentence: str) -> None:
    language = language_for(code)
    if language.english:
        expected = EspeakFallback(british=code == "b")(SimpleNamespace(text=sentence))[0]
    else:
        expected = EspeakG2P(language=language.espeak_voice)(sentence)[0]
    assert kokoro_phonemes(phonemizer, sentence, language) == expected


def test_english_uses_kokoros_symbols(phonemizer: Phonemizer) -> None:
    phonemes = kokoro_phonemes(phonemizer, "I'd like a cheeseburger, judge.", language_for("a"))
    assert "I" in phonemes and "ʧ" in phonemes and "ʤ" in phonemes  # a^ɪ, t^ʃ, d^ʒ folded into one symbol
    assert "^" not in phonemes and "ː" not in phonemes  # ties gone; American English has no length marks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there, ", (",", False)),
        ("how are you today? ", ("?", True)),
        ("Really?! ", ("?", True)),  # the first mark of a run decides, as in espeak
        ("I am fine: ", (":", False)),
        ("thanks; ", (";", False)),
        ("really!", ("!", True)),
        ("Washington... ", ("", False)),  # an ellipsis ends neither clause nor sentence
        ("Wait… ", ("", False)),
        ('He said "stop.', (".", True)),
        ("words—em dash – ", (";", False)),  # a spaced dash is a clause break
        ("The quick brown fox", ("", True)),  # the end of the text
    ],
)
def test_terminators_follow_espeaks_clause_types(text: str, expected: tuple[str, bool]) -> None:
    assert terminator_of(PhonemeClause("x", text, last=False)) == expected


def test_clauses_carry_the_text_they_read(phonemizer: Phonemizer) -> None:
    clauses = phonemizer.clauses("Hello there, how are you? Fine.", "en-us")
    assert [(clause.terminator, clause.ends_sentence) for clause in clauses] == [(",", False), ("?", True), (".", True)]
    assert clauses[0].phonemes == "həlˈoʊ ðˈɛɹ"


def test_language_codes_reach_espeaks_voices(phonemizer: Phonemizer) -> None:
    assert phonemizer.knows("en-gb") and phonemizer.knows("pt-br") and not phonemizer.knows("xx-nowhere")
    british = phonemizer.phonemize_punctuated("tomato", "en-gb")
    american = phonemizer.phonemize_punctuated("tomato", "en-us")
    assert british != american
