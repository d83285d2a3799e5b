"""Dia's text conventions: tags, the closing tag, and segments that fit its windows."""

from __future__ import annotations

from tts_server.engines.dia.text import SegmentBudget, estimated_seconds, plan_segments, tag_text, with_closing_tag

WIDE = SegmentBudget(seconds=20, text_bytes=1000)


def test_untagged_text_gets_the_voice_speaker() -> None:
    assert tag_text("Hello  there.\nBye.", "S2") == "[S2] Hello there. Bye."
    assert tag_text("[s1] Hi. [S2] Yo (laughs).", "S2") == "[S1] Hi. [S2] Yo (laughs)."


def test_text_ends_with_the_other_speakers_tag() -> None:
    assert with_closing_tag("[S1] Hi.") == "[S1] Hi. [S2]"
    assert with_closing_tag("[S1] Hi. [S2] Yo.") == "[S1] Hi. [S2] Yo. [S1]"
    assert with_closing_tag("[S1] Hi. [S2]") == "[S1] Hi. [S2]"


def test_short_text_is_one_segment() -> None:
    text = "[S1] One sentence. [S2] Another (laughs)."
    assert plan_segments(text, WIDE, WIDE, WIDE) == [text]


def test_long_text_splits_at_turns_and_sentences_within_budgets() -> None:
    sentence = "This sentence is about forty characters. "
    text = "[S1] " + sentence * 12 + "[S2] " + sentence * 12
    first, rest = SegmentBudget(seconds=8, text_bytes=300), SegmentBudget(seconds=16, text_bytes=600)
    segments = plan_segments(text, WIDE, first, rest)
    assert len(segments) > 3
    assert estimated_seconds(segments[0]) <= 8
    assert all(estimated_seconds(segment) <= 16 for segment in segments[1:])
    assert all(segment.startswith(("[S1] ", "[S2] ")) for segment in segments)
    words = " ".join(segments).replace("[S1] ", "").replace("[S2] ", "").split()
    assert words == text.replace("[S1] ", "").replace("[S2] ", "").split()
    assert any("[S2]" in segment for segment in segments) and "[S2]" not in segments[0]
