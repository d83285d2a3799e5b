# ruff: noqa: RUF001, RUF002  (IPA symbols are the content of this module)
"""Kokoro's phoneme set from espeak-ng: the recipe of misaki, the G2P Kokoro v1.0 was trained with.

misaki speaks Spanish, French, Hindi, Italian and Brazilian Portuguese through espeak-ng (its EspeakG2P):
espeak's IPA with ties, whose tied pairs become Kokoro's single symbols (a^ɪ -> I, t^ʃ -> ʧ, ...). For
English misaki reads a lexicon first and falls back to espeak for unknown words (its EspeakFallback), with
a wider mapping onto the lexicon's symbols (e^ɪ -> A, o^ʊ -> O, ɾ -> T, ...). The lexicon needs spaCy and a
downloaded model, so here every English word takes the fallback's path. Japanese and Mandarin, which misaki
reads with pyopenjtalk and jieba, are phonemized by espeak's own ja and cmn voices: an approximation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tts_server.engines.onnx_voices.phonemes import Phonemizer

# Kokoro's language codes: the first letter of a voice name ("af_heart" is American English).
LANGUAGE_CODES: dict[str, str] = {
    "a": "en-us",
    "b": "en-gb",
    "e": "es",
    "f": "fr-fr",
    "h": "hi",
    "i": "it",
    "j": "ja",
    "p": "pt-br",
    "z": "cmn",
}
LANGUAGE_NAMES = {
    "a": "English (America)",
    "b": "English (Great Britain)",
    "e": "Spanish",
    "f": "French",
    "h": "Hindi",
    "i": "Italian",
    "j": "Japanese",
    "p": "Portuguese (Brazil)",
    "z": "Chinese (Mandarin)",
}

_TIE = "^"
_ESPEAK_TIES = {"a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q", "s^s": "S"}
_ESPEAK_TIES |= {"t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y"}
_ENGLISH = {
    "ʔˌn\u0329": "ʔn", "ʔn\u0329": "ʔn", "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A", "t^ʃ": "ʧ",
    "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ʲo": "jo", "ʲə": "jə", "ʲ": "", "ɚ": "əɹ", "r": "ɹ", "x": "k", "ç": "k", "ɐ": "ə",
    "ɬ": "l", "\u0303": "",
}  # fmt: skip
_SYLLABIC_RE = re.compile(r"(\S)\u0329")


@dataclass(frozen=True, slots=True)
class KokoroLanguage:
    code: str  # Kokoro's letter
    espeak_voice: str

    @property
    def english(self) -> bool:
        return self.code in ("a", "b")


def language_for(code: str) -> KokoroLanguage:
    return KokoroLanguage(code, LANGUAGE_CODES[code])


def kokoro_phonemes(phonemizer: Phonemizer, text: str, language: KokoroLanguage) -> str:
    """`text` in Kokoro's symbols (characters outside its vocabulary may remain; the tokenizer drops them)."""
    # misaki hides parentheses from espeak as angle quotes, which it keeps as punctuation
    hidden = text.replace("\u00ab", "\u201c").replace("\u00bb", "\u201d").replace("(", "\u00ab").replace(")", "\u00bb")
    phonemes = phonemizer.phonemize_punctuated(hidden, language.espeak_voice, tie=_TIE)
    phonemes = _english(phonemes, british=language.code == "b") if language.english else _other(phonemes)
    return phonemes.replace("\u00ab", "(").replace("\u00bb", ")")


def _other(phonemes: str) -> str:
    for tied, symbol in sorted(_ESPEAK_TIES.items()):
        phonemes = phonemes.replace(tied, symbol)
    return phonemes.replace(_TIE, "").replace("-", "")


def _english(phonemes: str, *, british: bool) -> str:
    for old, new in sorted(_ENGLISH.items(), key=lambda item: -len(item[0])):
        phonemes = phonemes.replace(old, new)
    phonemes = _SYLLABIC_RE.sub(r"ᵊ\1", phonemes).replace("\u0329", "")
    if british:
        phonemes = phonemes.replace("e^ə", "ɛː").replace("iə", "ɪə").replace("ə^ʊ", "Q")
    else:
        phonemes = phonemes.replace("o^ʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ").replace("ɪə", "iə")
        phonemes = phonemes.replace("ː", "")
    phonemes = phonemes.replace("o", "ɔ")  # espeak before 1.52 wrote o where Kokoro's lexicon has ɔ
    return phonemes.replace("ɾ", "T").replace("ʔ", "t").replace(_TIE, "")
