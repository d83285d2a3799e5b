"""Text handling before synthesis: make the text say what a listener should hear, cut it into
sentence-sized chunks for streaming, and read Dia's performance tags ([S1]/[S2] turns, cues like (laughs)).

Pure functions over strings; nothing here knows about engines or HTTP. The rule of thumb throughout:
verbalise what we understand and leave the rest untouched for the engine, which reads digits itself.
Numbers, money, dates, times and units are read out by `spoken_numbers`; this module decides when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from tts_server.audio.spoken_numbers import Locale, locale_for, speak_numbers

Speaker = Literal["S1", "S2"]

# The non-verbal cues Dia performs; anything else in parentheses is ordinary text to be read.
NONVERBAL_TAGS: tuple[str, ...] = (
    "laughs", "clears throat", "sighs", "gasps", "coughs", "singing", "sings", "mumbles", "beep", "groans",
    "sniffs", "claps", "screams", "inhales", "exhales", "applause", "burps", "humming", "sneezes", "chuckle",
    "whistles",
)  # fmt: skip
_NONVERBAL = r"\((?:" + "|".join(tag.replace(" ", r"\s+") for tag in NONVERBAL_TAGS) + r")\)"
SPEAKER_TAG_RE = re.compile(r"\[(S[12])\]", re.IGNORECASE)
NONVERBAL_RE = re.compile(_NONVERBAL, re.IGNORECASE)
_PERFORMANCE_TAG_RE = re.compile(rf"(\[S[12]\]|{_NONVERBAL})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    speaker: Speaker | None  # None: text before any speaker tag
    text: str


def has_speaker_tags(text: str) -> bool:
    return SPEAKER_TAG_RE.search(text) is not None


def split_speaker_turns(text: str) -> list[SpeakerTurn]:
    """`"[S1] hi [S2] yo"` -> two turns; untagged text is one turn with speaker None; empty turns are dropped."""
    turns: list[SpeakerTurn] = []
    speaker: Speaker | None = None
    start = 0
    for tag in SPEAKER_TAG_RE.finditer(text):
        turns.append(SpeakerTurn(speaker, text[start : tag.start()].strip()))
        speaker = "S1" if tag.group(1).upper() == "S1" else "S2"
        start = tag.end()
    turns.append(SpeakerTurn(speaker, text[start:].strip()))
    return [turn for turn in turns if turn.text]


_INLINE_SPACE_RE = re.compile(r"[^\S\n]{2,}|[^\S\n ]")  # runs, and lone tabs etc.: a lone space stays as it is
_SPACE_BEFORE_PUNCTUATION_RE = re.compile(r" +(?=[.,!?;:…])")


def strip_performance_tags(text: str) -> str:
    """Remove [S1]/[S2] and Dia's non-verbal cues, for engines that would read them aloud."""
    if "[" in text or "(" in text:  # every tag has one; most requests have none (a sentence: 3.7 -> 2.5 us)
        text = _PERFORMANCE_TAG_RE.sub(" ", text)
    stripped = _INLINE_SPACE_RE.sub(" ", text)
    stripped = _SPACE_BEFORE_PUNCTUATION_RE.sub("", stripped)  # "funny (laughs)." -> "funny."
    return "\n".join(line.strip() for line in stripped.split("\n")).strip()


# --- sentence splitting -----------------------------------------------------------------------------------

_CLOSERS = "\"'\u201d\u2019\u00bb)]"  # closing quotes and brackets that may follow a full stop
_BOUNDARY_RE = re.compile(rf"[.!?…;]+[{re.escape(_CLOSERS)}]*(?=\s|$)|\n|(?<=\s)(?=\[S[12]\])", re.IGNORECASE)
_CLAUSE_BREAK_RE = re.compile(r"(?<=[,;:])\s+")
_TOKEN_RE = re.compile(rf"(?:{_NONVERBAL}|\S)+", re.IGNORECASE)  # a word; a cue like (clears throat) stays whole
_NO_BREAK_AFTER = frozenset({
    "mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "mt.", "jr.", "sr.", "vs.", "e.g.", "i.e.", "cf.", "approx.", "no.",
    "nos.", "fig.", "inc.", "ltd.", "co.", "corp.", "dept.", "ave.", "capt.", "sgt.", "lt.", "col.", "gen.", "rev.",
    "gov.", "sen.", "rep.", "al.", "ca.", "jan.", "feb.", "mar.", "apr.", "jun.", "jul.", "aug.", "sep.", "sept.",
    "oct.", "nov.", "dec.",
})  # fmt: skip


def split_sentences(text: str, max_chars: int = 300, min_chars: int = 20) -> list[str]:
    """Cut text into sentence-sized chunks for streaming synthesis.

    Splits at . ! ? … ; and line breaks (not after abbreviations, initials or decimals) and before a speaker
    tag. A sentence over `max_chars` is cut at , ; : and then between words; a single word longer than
    `max_chars` stays whole. A sentence under `min_chars` that ends in punctuation joins the next one, so the
    engine is not called per word. Chunks are never empty, and joined with spaces they give back every word
    in order (runs of whitespace become one space).
    """
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    pieces = [chunk for sentence in _sentences(text) for chunk in _split_long(sentence, max_chars)]
    return _merge_short(pieces, min_chars, max_chars)


def _sentences(text: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for boundary in _BOUNDARY_RE.finditer(text):
        if _ends_sentence(text, boundary):
            pieces.append(text[start : boundary.end()])
            start = boundary.end()
    pieces.append(text[start:])
    return [" ".join(piece.split()) for piece in pieces if not piece.isspace() and piece]


def _ends_sentence(text: str, boundary: re.Match[str]) -> bool:
    punctuation = boundary.group().rstrip(_CLOSERS)
    if not punctuation or punctuation[-1] not in ".…":
        return True  # ! ? ; a line break, a speaker tag
    if text[boundary.end() :].lstrip()[:1].islower():
        return False  # "the U.S. economy", "approx. five", "wait… what"
    if punctuation != ".":
        return True
    word = text[: boundary.start() + 1].rsplit(None, 1)[-1].lstrip("(\"'\u201c\u2018[")
    if word.lower() in _NO_BREAK_AFTER or re.fullmatch(r"[A-Z]\.", word):
        return False  # "Dr. Smith", "J. R. R. Tolkien"
    return not re.fullmatch(r"(?:[A-Za-z]\.){2,}", word) or word.lower() in ("a.m.", "p.m.")


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    units: list[str] = []
    for clause in _CLAUSE_BREAK_RE.split(sentence):
        units.extend([clause] if len(clause) <= max_chars else _TOKEN_RE.findall(clause))
    chunks: list[str] = []
    for unit in units:
        if chunks and len(chunks[-1]) + 1 + len(unit) <= max_chars:
            chunks[-1] += " " + unit
        else:
            chunks.append(unit)
    return chunks


def _merge_short(pieces: list[str], min_chars: int, max_chars: int) -> list[str]:
    def joinable(first: str, second: str) -> bool:
        # A piece without closing punctuation is a line of its own (a heading, a list item): keep it apart.
        return first[-1] in ".!?…;:," + _CLOSERS and len(first) + 1 + len(second) <= max_chars

    merged: list[str] = []
    for piece in pieces:
        if merged and len(merged[-1]) < min_chars and joinable(merged[-1], piece):
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    if len(merged) > 1 and len(merged[-1]) < min_chars and joinable(merged[-2], merged[-1]):
        merged[-2:] = [merged[-2] + " " + merged[-1]]
    return merged


# --- normalisation ----------------------------------------------------------------------------------------

_HELD_BASE = 0xF0000  # tags wait in Unicode's supplementary private use area (65,534 places)
_HELD = "\U000f0000-\U000ffffd"


def normalize_text(text: str, language: str = "en") -> str:
    """Rewrite text as it should be spoken: markdown dropped, numbers, money, dates, times, units, web
    addresses and common abbreviations written out in words. Idempotent.

    Numbers are read in `language` where num2words knows it (dates, times, units, ordinals and abbreviations
    in English only); in other languages they are left for the engine. [S1]/[S2] and non-verbal cues such as
    (laughs) pass through untouched; ordinary parentheses are kept and read.
    """
    locale = locale_for(language)
    text = re.sub(rf"[\u200b-\u200d\u2060\ufeff{_HELD}]", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    tags: list[str] = []

    def hold(match: re.Match[str]) -> str:  # a tag waits, as one private-use character, while the text changes
        if len(tags) >= 65_534:
            return match.group()
        tags.append(match.group())
        return chr(_HELD_BASE + len(tags) - 1)

    text = _normalize_plain(_PERFORMANCE_TAG_RE.sub(hold, text), locale)
    text = re.sub(f"[{_HELD}]", lambda match: tags[ord(match.group()) - _HELD_BASE], text)
    return re.sub(r" ?\n\s*", "\n", re.sub(r"[^\S\n]+", " ", text)).strip()


def _normalize_plain(text: str, locale: Locale) -> str:
    text = _strip_markdown_structure(text)
    if locale.base in _ADDRESS_WORDS:
        text = _speak_addresses(text, _ADDRESS_WORDS[locale.base])
    text = _strip_markdown_marks(text, locale)
    if locale.english:
        text = re.sub(r"(?<![^\W\d_])[Nn]o\.(?=\s?\d)", "number ", text)
    text = speak_numbers(text, locale)
    # After the numbers, which unglue words from digits ("5e.g." -> "five e.g.").
    return _expand_abbreviations(text) if locale.english else text


def _strip_markdown_structure(text: str) -> str:
    text = re.sub(rf"^[ \t]*(?:```|~~~)[^\n{_HELD}]*$", "", text, flags=re.MULTILINE)  # code fences
    text = re.sub(r"<((?:https?://|mailto:)[^\s<>]+)>", r"\1", text)  # autolinks
    previous = None
    while previous != text:  # nested links and tags unwrap from the inside out
        previous = text
        text = re.sub(rf"!?\[([^\[\]]*)\]\((?:[^()\s{_HELD}]|\([^()\s{_HELD}]*\))*(?:\s+\"[^\"]*\")?\)", r"\1", text)
        text = re.sub(rf"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>{_HELD}]*)?/?>", "", text)
    return text


def _strip_markdown_marks(text: str, locale: Locale) -> str:
    text = re.sub(r"(?<![^\W\d_])([CF])#(?!\w)", r"\1 sharp", text)
    text = re.sub(r"#(?=\d)", " number " if locale.english else "", text)
    text = re.sub(r"[#*`]|~~", "", text)
    text = re.sub(r"(?<=[^\W_])_+(?=[^\W_])", " ", text).replace("_", "")
    text = re.sub(r"[^\S\n\u00a0\u202f]+", " ", text)  # later rules see single spaces, as on a second pass
    # Bullets, numbered-list markers and quote marks at the start of a line, however many are stacked.
    text = re.sub(r"^ ?(?:(?:[-+•]|\d{1,3}[.)]) |> ?)+", "", text, flags=re.MULTILINE)
    return re.sub(r"^ ?-(?: ?-){2,} ?$", "", text, flags=re.MULTILINE)  # a --- rule


_ADDRESS_WORDS = {
    "en": {".": "dot", "@": "at", "/": "slash", "-": "dash", "_": "underscore", "+": "plus"},
    "de": {".": "Punkt", "@": "at", "/": "Schrägstrich", "-": "Bindestrich", "_": "Unterstrich", "+": "plus"},
    "fr": {".": "point", "@": "arobase", "/": "slash", "-": "tiret", "_": "tiret bas", "+": "plus"},
    "es": {".": "punto", "@": "arroba", "/": "barra", "-": "guion", "_": "guion bajo", "+": "más"},
}
_URL_CHAR = rf"[^\s<>\"'()\[\]{{}}{_HELD}]"
_URL_RE = re.compile(rf"(?<![^\W\d_])(?:https?://|www\.){_URL_CHAR}*(?<![.,;:!?])", re.IGNORECASE)
_DOMAIN_RE = re.compile(
    r"(?<![^\W\d])(?<![@./-])(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|ai|app|edu|gov|info|co|uk|de|fr|eu|us|ca)"
    rf"(?![^\W\d]|[@-])(?:/{_URL_CHAR}*(?<![.,;:!?]))?(?![^\W\d]|[@-])",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"(?<![\w+-])(?:mailto:)?[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![A-Za-z])")


def _speak_addresses(text: str, words: dict[str, str]) -> str:
    def speak(match: re.Match[str]) -> str:
        address = re.sub(r"^(?:[a-z][a-z0-9+.-]*://|mailto:)", "", match.group(), flags=re.IGNORECASE)
        address = re.split(r"[?#]", address, maxsplit=1)[0].rstrip("/")  # a listener needs no query string
        spoken = " ".join(words.get(part, part) for part in re.split(r"([./@_+-])", address) if part)
        spoken = re.sub(r"\bwww\b", "w w w", re.sub(r"[^\w\s]|_", " ", spoken))
        # Apart from what it was glued to, so removing markup later cannot join it to a neighbour.
        before, after = match.string[match.start() - 1 : match.start()], match.string[match.end() : match.end() + 1]
        pad_before = " " if before and before not in " \t\n([{\"'" else ""
        return pad_before + spoken + (" " if after.isalnum() else "")

    for pattern in (_EMAIL_RE, _URL_RE, _DOMAIN_RE):
        text = pattern.sub(speak, text)
    return text


_TITLES = {"Dr": "Doctor", "Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Prof": "Professor", "Mt": "Mount",
           "St": "Saint", "Capt": "Captain", "Sgt": "Sergeant", "Lt": "Lieutenant", "Col": "Colonel",
           "Gen": "General", "Rev": "Reverend", "Gov": "Governor", "Sen": "Senator", "Pres": "President"}  # fmt: skip
_TITLE_RE = re.compile(r"\b(?:(Dr|Mr|Mrs|Ms)\.?|(Prof|Mt|St|Capt|Sgt|Lt|Col|Gen|Rev|Gov|Sen|Pres)\.)(?=\s+[A-Z])")
# word, and whether its period may also end the sentence
_ABBREVIATIONS = {"e.g.": ("for example", False), "i.e.": ("that is", False), "etc.": ("et cetera", True),
                  "vs.": ("versus", False), "vs": ("versus", False), "approx.": ("approximately", False),
                  "jr.": ("Junior", True), "sr.": ("Senior", True), "st.": ("Street", True),
                  "ave.": ("Avenue", True), "inc.": ("Incorporated", True), "ltd.": ("Limited", True),
                  "corp.": ("Corporation", True), "dept.": ("Department", True), "fig.": ("Figure", False)}  # fmt: skip
_ABBREVIATION_RE = re.compile(
    r"(?<![\w.])(?:e\.g\.|i\.e\.|etc\.|vs\.?|approx\.|Jr\.|Sr\.|St\.|Ave\.|Inc\.|Ltd\.|Corp\.|Dept\.|Fig\.)(?!\w)",
    re.IGNORECASE,
)


def _expand_abbreviations(text: str) -> str:
    def expand(match: re.Match[str]) -> str:
        word, may_end = _ABBREVIATIONS[match.group().lower()]
        return word + "." if may_end and _sentence_ends_after(match) else word

    text = _TITLE_RE.sub(lambda match: _TITLES[match.group(1) or match.group(2)], text)
    text = _ABBREVIATION_RE.sub(expand, text)
    return re.sub(r"(?<=\w)\s*&\s*(?=\w)", " and ", text)


def _sentence_ends_after(match: re.Match[str]) -> bool:
    return re.match(rf"\s*(?:$|[{_HELD}])|\s+[A-Z]", match.string[match.end() :]) is not None
