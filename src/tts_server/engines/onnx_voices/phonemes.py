"""Phonemes from the espeak-ng library the server already loads, in the shapes neural voices were trained on.

Piper and Kokoro both learned from espeak-ng's IPA. Piper reads it clause by clause with each clause's
punctuation appended (piper-tts asks espeak for the terminator; the bundled library predates that call, so
`Clause.terminator` reads it from the clause's own text, the way the library chose it). Kokoro's espeak
languages go through the `phonemizer` package's recipe: punctuation set aside, the words phonemized with
ties, the punctuation put back (`phonemize_punctuated`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader

from tts_server.engines.base import EngineLoadError
from tts_server.engines.espeak.native import EspeakError, EspeakLibrary, PhonemeClause

_CLOSERS = "\"'\u201d\u2019\u00bb)]}"
_TRAILING_MARKS_RE = re.compile(r"[.?!,:;\u2026\u2013\u2014]+$")
# espeak's clause types for the first mark of a run (readclause.c): what piper-tts writes after the clause
_TERMINATORS = {".": ".", "?": "?", "!": "!", ",": ",", ":": ":", ";": ";", "\u2013": ";", "\u2014": ";"}
_SENTENCE_ENDS = frozenset(".?!")
_LANGUAGE_FLAG_RE = re.compile(r"\([^)]*\)")  # "(en)...(fr)" around words espeak read in another language
# The phonemizer package's punctuation marks; "," and "." only where they are not a decimal separator.
_MARKS_RE = re.compile(
    r"(?:\s*(?:[;:!?\u00a1\u00bf\u2014\u2026\"\u00ab\u00bb\u201c\u201d(){}\[\]]|(?<![0-9])[,.]|[,.](?![0-9]))+\s*)+"
)

# One library per process, shared by the engines of that process; it is not thread-safe.
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Clause:
    phonemes: str  # language-switch flags removed
    terminator: str  # "." "?" "!" "," ":" ";" or "" (what piper-tts appends)
    ends_sentence: bool


def terminator_of(clause: PhonemeClause) -> tuple[str, bool]:
    """The punctuation that ended a clause as espeak classes it, and whether it ends a sentence.

    An ellipsis ends neither ("wait... what"); a clause with no closing mark ends a sentence (the end of the
    text, or a paragraph)."""
    text = clause.text.rstrip().rstrip(_CLOSERS).rstrip()
    found = _TRAILING_MARKS_RE.search(text)
    if found is None:
        return "", True
    marks = found.group()
    if marks.startswith("..") or "\u2026" in marks:
        return "", False
    terminator = _TERMINATORS[marks[0]]
    return terminator, terminator in _SENTENCE_ENDS


class Phonemizer:
    """espeak-ng's phonemes for one process (every call holds the process-wide library lock)."""

    def __init__(self, library_path: str | None = None, data_path: str | None = None) -> None:
        self._library_path = library_path or espeakng_loader.get_library_path()
        self._data_path = Path(data_path or espeakng_loader.get_data_path())
        self._lib: EspeakLibrary | None = None
        self._languages: dict[str, str] | None = None

    def knows(self, language: str) -> bool:
        """True when espeak has a voice for this language code ("en-us", "de")."""
        return language.lower() in self._language_voices()

    def _language_voices(self) -> dict[str, str]:
        if self._languages is None:
            from tts_server.engines.espeak.engine import scan_languages

            self._languages = scan_languages(self._data_path)
        return self._languages

    def _voice(self, language: str) -> str:
        """espeak's voice identifier for a language code: "en-gb" itself is no voice name."""
        return self._language_voices().get(language.lower(), language)

    def load(self) -> None:
        try:
            self._lib = EspeakLibrary(self._library_path, self._data_path)
        except EspeakError as exc:
            raise EngineLoadError(
                f"espeak-ng, which makes the phonemes, could not start ({exc}). "
                "Reinstall it with `pip install --force-reinstall espeakng-loader`."
            ) from exc

    def clauses(self, text: str, language: str) -> list[Clause]:
        """espeak's clauses of `text` with their terminators (piper-tts's phonemization)."""
        with _LOCK:
            raw = self._library().phonemize_as(self._voice(language), text)
        clauses = []
        for clause in raw:
            terminator, ends = terminator_of(clause)
            clauses.append(Clause(_LANGUAGE_FLAG_RE.sub("", clause.phonemes), terminator, ends))
        return clauses

    def phonemize_punctuated(self, text: str, language: str, tie: str = "^") -> str:
        """Phonemes with the text's punctuation kept in place, as the `phonemizer` package makes them with
        preserve_punctuation, with_stress and a tie character (the recipe misaki's espeak G2P builds on)."""
        pieces: list[str] = []
        start = 0
        voice = self._voice(language)
        with _LOCK:
            library = self._library()
            for mark in _MARKS_RE.finditer(text):
                pieces.append(self._words(library, text[start : mark.start()], voice, tie))
                pieces.append(mark.group())
                start = mark.end()
            pieces.append(self._words(library, text[start:], voice, tie))
        return "".join(pieces).strip()

    @staticmethod
    def _words(library: EspeakLibrary, text: str, voice: str, tie: str) -> str:
        if not text.strip():
            return ""
        clauses = library.phonemize_as(voice, text, tie=tie)
        words = " ".join(clause.phonemes for clause in clauses).replace("\n", " ").split()
        return " ".join(word for word in (_LANGUAGE_FLAG_RE.sub("", word) for word in words) if word)

    def _library(self) -> EspeakLibrary:
        if self._lib is None:
            raise RuntimeError("Phonemizer.load() must be called first")
        return self._lib
