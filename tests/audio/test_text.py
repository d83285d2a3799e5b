"""Text before synthesis: what a listener would hear, how it is cut for streaming, and Dia's tags."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_server.audio.text import (
    NONVERBAL_RE,
    NONVERBAL_TAGS,
    SPEAKER_TAG_RE,
    SpeakerTurn,
    has_speaker_tags,
    normalize_text,
    split_sentences,
    split_speaker_turns,
    strip_performance_tags,
)

# (written, what the listener hears): the expected words must appear in the normalised text.
ENGLISH_CASES = [
    # integers, decimals, negatives, thousands, long ids
    ("I have 42 apples", "forty-two apples"),
    ("pi is 3.14", "three point one four"),
    ("version 3.10", "three point one zero"),
    ("it is -5 outside", "minus five outside"),
    ("1,234,567 people", "one million two hundred and thirty-four thousand five hundred and sixty-seven people"),
    ("agent 007", "zero zero seven"),
    ("A4 paper in 3D", "A four paper in three D"),
    # ordinals, percentages, years, decades, ranges
    ("the 1st, 22nd and 103rd", "the first, twenty-second and one hundred and third"),
    ("50% off", "fifty percent off"),
    ("up 3.5%", "three point five percent"),
    ("10-20% faster", "ten to twenty percent faster"),
    ("born in 1999", "nineteen ninety-nine"),
    ("by 2024", "twenty twenty-four"),
    ("in 2000", "two thousand"),
    ("the 1990s", "the nineteen nineties"),
    ("back in the '80s", "the eighties"),
    ("pages 5-10", "pages five to ten"),
    ("from 1990-1995", "nineteen ninety to nineteen ninety-five"),
    # money
    ("$5.50", "five dollars and fifty cents"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$1,000,000", "one million dollars"),
    ("$2.5 million", "two point five million dollars"),
    ("$3bn deal", "three billion dollars deal"),
    ("-$5", "minus five dollars"),
    ("€20", "twenty euros"),
    ("20€", "twenty euros"),
    ("£3.20", "three pounds and twenty pence"),
    ("£0.01", "one penny"),
    ("¥500", "five hundred yen"),
    ("5 USD", "five dollars"),
    ("5-10 USD", "five to ten dollars"),
    # dates and times
    ("on 2024-03-15", "March fifteenth, twenty twenty-four"),
    ("on 15/03/2024", "the fifteenth of March, twenty twenty-four"),
    ("on 03/15/2024", "March fifteenth, twenty twenty-four"),
    ("on March 3", "March third"),
    ("on March 3rd, 2024", "March third, twenty twenty-four"),
    ("on 3 March", "the third of March"),
    ("on Mar. 5", "March fifth"),
    ("at 14:30", "fourteen thirty"),
    ("at 3:05 pm", "three oh five p.m."),
    ("at 3:00 PM", "three p.m."),
    ("at 9am", "nine a.m."),
    ("at 12:00", "twelve o'clock"),
    ("at 18:00", "eighteen hundred"),
    # units
    ("5 km", "five kilometers"),
    ("1 km", "one kilometer"),
    ("1.0 km", "one kilometer"),
    ("10kg", "ten kilograms"),
    ("3.5 GB", "three point five gigabytes"),
    ("20°C", "twenty degrees Celsius"),
    ("-5 °F", "minus five degrees Fahrenheit"),
    ("60 mph", "sixty miles per hour"),
    ("5-10 km", "five to ten kilometers"),
    # addresses
    ("see https://example.com/path", "example dot com slash path"),
    ("see https://example.com/docs?page=2#top.", "example dot com slash docs."),
    ("see www.example.org", "w w w dot example dot org"),
    ("see example.com today", "see example dot com today"),
    ("write to a.b@c.org", "a dot b at c dot org"),
    # abbreviations
    ("Dr. Smith met Mr. Jones", "Doctor Smith met Mister Jones"),
    ("Mrs. Brown", "Missus Brown"),
    ("fruit, e.g. apples", "fruit, for example apples"),
    ("one, i.e. the first", "one, that is the first"),
    ("cats vs. dogs", "cats versus dogs"),
    ("apples, pears, etc. and more", "apples, pears, et cetera and more"),
    ("apples, pears, etc. Then", "et cetera. Then"),
    ("St. Louis, Main St. today", "Saint Louis, Main Street today"),
    ("No. 5", "number five"),
    ("R&D", "R and D"),
    # markdown
    ("**bold** and *italic*", "bold and italic"),
    ("__strong__ and _em_", "strong and em"),
    ("run `make test` now", "run make test now"),
    ("read [the docs](https://x.com/docs) first", "read the docs first"),
    ("![a diagram](img.png)", "a diagram"),
    ("## Heading", "Heading"),
    ("#1 hit", "number one hit"),
    ("C# code", "C sharp code"),
    ("snake_case_name", "snake case name"),
]


@pytest.mark.parametrize(("written", "heard"), ENGLISH_CASES)
def test_normalize_reads_what_a_listener_hears(written: str, heard: str) -> None:
    assert heard in normalize_text(written)


@pytest.mark.parametrize(
    ("written", "heard"),
    [
        ("It costs $5.50 today.", "It costs five dollars and fifty cents today."),
        ("  many   spaces\t\there ", "many spaces here"),
        ("# Title\n\n- item one\n* item two\n1. step\n> quoted", "Title\nitem one\nitem two\nstep\nquoted"),
        ("```python\nx = 1\n```", "x = one"),
        ("at 3pm. Then home.", "at three p.m. Then home."),
        ("It was 5. Then 6.", "It was five. Then six."),
    ],
)
def test_normalize_exact_output(written: str, heard: str) -> None:
    assert normalize_text(written) == heard


@pytest.mark.parametrize(
    "written",
    ["score 3-2", "call 555-1234", "v1.2.3", "192.168.0.1", "ratio 3:2", "1/2 cup", "on 2024-13-45", "at 25:00"],
)
def test_what_is_not_understood_is_left_for_the_engine(written: str) -> None:
    assert normalize_text(written) == written


def test_digits_are_gone_from_ordinary_english() -> None:
    text = "On 2024-03-15 at 3:05 pm, 1,234 people paid $5.50 each (10% off) for 2 GB, the 3rd time since 1999."
    assert not re.search(r"\d", normalize_text(text))


@pytest.mark.parametrize(
    ("language", "written", "heard"),
    [
        ("de", "Es kostet 5,50 €", "fünf Euro und fünfzig Cent"),
        ("de", "1.234 Leute", "eintausendzweihundertvierunddreißig Leute"),
        ("de", "3,5%", "drei Komma fünf Prozent"),
        ("de", "im Jahr 1999", "neunzehnhundertneunundneunzig"),
        ("fr", "1 000 euros", "mille euros"),
        ("fr", "20 €", "vingt euros"),
        ("fr", "-5 €", "moins cinq euros"),
        ("de", "5-10 €", "fünf bis zehn Euro"),
        ("es", "Cuesta $5", "cinco dólares"),
        ("en-GB", "on 03/04/2024", "the third of April"),
        ("en-US", "on 03/04/2024", "March fourth"),
        ("en_us", "42", "forty-two"),
    ],
)
def test_normalize_in_other_languages(language: str, written: str, heard: str) -> None:
    assert heard in normalize_text(written, language)


def test_languages_without_number_words_keep_their_digits() -> None:
    assert normalize_text("I have 5 **apples**", "xx") == "I have 5 apples"
    assert normalize_text("我有5个", "zh") == "我有5个"


def test_no_spaces_are_put_into_scripts_that_write_none() -> None:
    assert normalize_text("5個", "ja") == "五個"


def test_performance_tags_pass_through_normalisation() -> None:
    text = "[S1] I paid $5 (laughs) [S2] (clears throat) well (see below) (sighs)"
    out = normalize_text(text)
    assert out == "[S1] I paid five dollars (laughs) [S2] (clears throat) well (see below) (sighs)"


IDEMPOTENCE_CASES = [text for text, _ in ENGLISH_CASES] + [
    "[S1] Dr. Smith paid $1,234.56 on 2024-03-15 at 3:05 pm. (laughs) [S2] Really? e.g. 50% of it!",
    "# Notes\n- visit https://example.com/a_b?x=1\n- mail john.doe+tts@example.co.uk\n1. **Step** one",
    "etc. etc. etc.",
    "- - - nested - bullets\n> > quote",
    "<b>bold</b> [[nested](a)](b) `code`",
]


@pytest.mark.parametrize("text", IDEMPOTENCE_CASES)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


_PIECES = st.sampled_from(
    [
        "word", "Dr.", "e.g.", "etc.", "$5.50", "€3", "1,234", "3.14", "-7", "42", "1999", "1990s", "3rd", "50%",
        "10kg", "5 km", "20°C", "14:30", "3pm", "2024-03-15", "March", "3", "https://ex.com/a_b", "a.b@c.org",
        "**", "*", "_", "#", "`", "[x](y)", "(laughs)", "[S1]", "[S2]", "(see below)", "- ", "1. ", "> ", "\n",
        ".", ",", "!", "?", ";", ":", "-", "/", "&", "R$", "C#", "St.", "No.", "<b>", "</b>", "...", "'",
    ]
)  # fmt: skip
_MESSY_TEXT = st.lists(st.one_of(_PIECES, st.text(alphabet="abcXYZ019 .,-$%:/", max_size=6)), max_size=30).map(
    lambda parts: " ".join(parts)
) | st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MESSY_TEXT, st.sampled_from(["en", "en-GB", "de", "fr", "ja", "xx"]))
def test_normalize_is_idempotent_on_messy_text(text: str, language: str) -> None:
    once = normalize_text(text, language)
    assert normalize_text(once, language) == once


@settings(max_examples=200, deadline=None)
@given(_MESSY_TEXT)
def test_normalize_keeps_every_performance_tag_in_order(text: str) -> None:
    tags = re.compile(rf"{SPEAKER_TAG_RE.pattern}|{NONVERBAL_RE.pattern}", re.IGNORECASE)
    assert tags.findall(normalize_text(text)) == tags.findall(text)


# --- sentence splitting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        ("Hello there, friend. How are you today? I am fine!", ["Hello there, friend.", "How are you today?", "I am fine!"]),
        ("Dr. Smith arrived at 3.15 today. He left.", ["Dr. Smith arrived at 3.15 today.", "He left."]),
        ("We met J. R. R. Tolkien in the U.S. economy class.", ["We met J. R. R. Tolkien in the U.S. economy class."]),
        ("First we wait; then we go home again.", ["First we wait;", "then we go home again."]),
        ("A heading\nThe body of the text follows here.", ["A heading", "The body of the text follows here."]),
        ("Wait… what happened to everyone here?", ["Wait… what happened to everyone here?"]),
        ("He said \"Stop right there.\" Then he left the room.", ["He said \"Stop right there.\"", "Then he left the room."]),
        ("I'll see you at 7 a.m. Tomorrow we travel far away.", ["I'll see you at 7 a.m.", "Tomorrow we travel far away."]),
        ("[S1] Hello there, how are you? [S2] Fine, and you, my friend?",
         ["[S1] Hello there, how are you?", "[S2] Fine, and you, my friend?"]),
    ],
)  # fmt: skip
def test_split_sentences(text: str, chunks: list[str]) -> None:
    assert split_sentences(text, min_chars=0) == chunks


def test_short_sentences_join_the_next() -> None:
    assert split_sentences("Hi. Ok. This is a longer sentence here.") == ["Hi. Ok. This is a longer sentence here."]
    assert split_sentences("Hi. Ok.", min_chars=0) == ["Hi.", "Ok."]
    assert split_sentences("This is a longer sentence here. Ok.") == ["This is a longer sentence here. Ok."]


def test_long_sentences_split_at_clauses_then_words() -> None:
    text = "one two three, four five six; seven eight nine: ten eleven twelve thirteen fourteen"
    chunks = split_sentences(text, max_chars=20, min_chars=0)
    assert chunks == ["one two three,", "four five six;", "seven eight nine:", "ten eleven twelve", "thirteen fourteen"]


def test_an_unsplittable_word_stays_whole() -> None:
    assert split_sentences("a " + "x" * 50 + " b", max_chars=10) == ["a", "x" * 50, "b"]


def test_a_nonverbal_cue_is_never_cut() -> None:
    chunks = split_sentences("so " * 10 + "(clears throat) and " * 5, max_chars=25, min_chars=0)
    assert all(chunk.count("(") == chunk.count(")") for chunk in chunks)


def test_split_rejects_a_useless_limit() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("text", max_chars=0)


@pytest.mark.parametrize("text", ["", "   ", "\n\n", " . ", "...", "\n.\n"])
def test_split_sentences_never_returns_empty_chunks(text: str) -> None:
    assert all(chunk.strip() for chunk in split_sentences(text))


_SENTENCE_TEXT = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghij", min_size=1, max_size=70),
        st.sampled_from(["Dr.", "e.g.", "J.", "U.S.", "3.14", "etc.", "[S1]", "[S2]", "A", "I", "The"]),
        st.sampled_from([".", "!", "?", "…", ";", ",", ":", "\n", "  ", "\t", '"', ".)"]),
    ),
    max_size=60,
).map(" ".join) | st.text(alphabet="ab .,;!?\n", max_size=300)


@settings(max_examples=400, deadline=None)
@given(_SENTENCE_TEXT, st.integers(min_value=1, max_value=120), st.integers(min_value=0, max_value=40))
def test_split_sentences_properties(text: str, max_chars: int, min_chars: int) -> None:
    chunks = split_sentences(text, max_chars=max_chars, min_chars=min_chars)
    assert all(chunk and chunk == chunk.strip() for chunk in chunks)
    assert all(len(chunk) <= max_chars or " " not in chunk for chunk in chunks)
    assert " ".join(chunks).split() == text.split()


# --- speaker turns and performance tags -------------------------------------------------------------------


def test_split_speaker_turns() -> None:
    assert split_speaker_turns("[S1] hi [S2] yo") == [SpeakerTurn("S1", "hi"), SpeakerTurn("S2", "yo")]
    assert split_speaker_turns("just text") == [SpeakerTurn(None, "just text")]
    assert split_speaker_turns("intro [s2] (laughs) yes [S1]") == [
        SpeakerTurn(None, "intro"),
        SpeakerTurn("S2", "(laughs) yes"),
    ]
    assert split_speaker_turns("") == []


def test_has_speaker_tags() -> None:
    assert has_speaker_tags("[S1] hello")
    assert has_speaker_tags("hello [S2] there")
    assert not has_speaker_tags("[S3] hello [see] (laughs)")


def test_strip_performance_tags_keeps_ordinary_parentheses() -> None:
    text = "[S1] That is funny (laughs). Read it again (see below). [S2] (clears throat) Fine (sighs)"
    assert strip_performance_tags(text) == "That is funny. Read it again (see below). Fine"


@pytest.mark.parametrize("tag", NONVERBAL_TAGS)
def test_every_dia_cue_is_stripped(tag: str) -> None:
    assert strip_performance_tags(f"before ({tag}) after") == "before after"


def test_strip_keeps_line_breaks() -> None:
    assert strip_performance_tags("[S1] one (laughs)\n[S2] two") == "one\ntwo"


_PIECES = ["a", "b", " ", "  ", "\t", "\n", "\r", "\u00a0", "\u2003", ".", ",", "…", "(", ")", "[", "]", "[S1]", "[s2]",
           "(laughs)", "(clears throat)", "(Sighs)"]  # fmt: skip


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_strip_performance_tags_spaces_like_the_plain_rules(text: str) -> None:
    """Oracle: tags become a space, inline whitespace runs one space, no space before punctuation, lines
    trimmed (the function takes shortcuts for speed; the result must not change)."""
    stripped = re.sub(r"[^\S\n]+", " ", re.sub(rf"\[S[12]\]|{NONVERBAL_RE.pattern}", " ", text, flags=re.IGNORECASE))
    stripped = re.sub(r" +(?=[.,!?;:…])", "", stripped)
    assert strip_performance_tags(text) == "\n".join(line.strip() for line in stripped.split("\n")).strip()
