"""Dia's text conventions: [S1]/[S2] speaker tags, a closing tag, and segments that fit its windows.

Dia reads at most 1,024 bytes of text and writes at most ~35 s of audio per pass, and its authors note that
inputs beyond ~20 s of speech come out rushed. Longer input is cut at speaker turns, then sentences, into
segments that each fit; the engine conditions every segment on one voice so they sound alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_server.audio.text import SPEAKER_TAG_RE, split_sentences, split_speaker_turns
from tts_server.engines.base import Speaker

CHARS_PER_SECOND = 14.0  # Dia's usual speaking rate, to estimate audio length from text
SEGMENT_SECONDS = 20.0  # longest speech per segment before Dia starts to rush
FIRST_SEGMENT_SECONDS = 10.0  # a seed voice's first segment conditions the rest: keep it short (5-10 s is best)
TEXT_BYTES = 1024  # Dia's encoder window
FIRST_SEGMENT_BYTES = 300  # bounds a seed voice's first segment, which later segments carry as their prompt
_TAG_BYTES = 6  # " [S1] "


def other_speaker(speaker: Speaker) -> Speaker:
    return "S2" if speaker == "S1" else "S1"


def tag_text(text: str, speaker: Speaker) -> str:
    """Collapse whitespace and make the text start with a speaker tag (`speaker` when it has none)."""
    text = SPEAKER_TAG_RE.sub(lambda tag: f"[{tag.group(1).upper()}]", " ".join(text.split()))
    return text if SPEAKER_TAG_RE.match(text) else f"[{speaker}] {text}"


def last_speaker(tagged: str) -> Speaker:
    tags = SPEAKER_TAG_RE.findall(tagged)
    return "S2" if tags and tags[-1].upper() == "S2" else "S1"


def with_closing_tag(tagged: str) -> str:
    """End with the other speaker's tag (Dia's authors' advice: the text's end is then not clipped)."""
    if SPEAKER_TAG_RE.search(tagged[-4:]):
        return tagged
    return f"{tagged} [{other_speaker(last_speaker(tagged))}]"


def estimated_seconds(text: str) -> float:
    return len(SPEAKER_TAG_RE.sub("", text)) / CHARS_PER_SECOND


@dataclass(frozen=True, slots=True)
class SegmentBudget:
    """How much text one segment may hold: estimated seconds of speech and UTF-8 bytes."""

    seconds: float
    text_bytes: int

    def fits(self, tagged: str) -> bool:
        return estimated_seconds(tagged) <= self.seconds and len(tagged.encode()) <= self.text_bytes

    @property
    def chars(self) -> int:
        return max(20, min(int(self.seconds * CHARS_PER_SECOND), self.text_bytes // 2))


def plan_segments(tagged: str, whole: SegmentBudget, first: SegmentBudget, rest: SegmentBudget) -> list[str]:
    """Tagged text cut into segments: itself when it fits `whole`, else speaker turns and sentences packed
    greedily, the first segment within `first` and the others within `rest`."""
    if whole.fits(tagged):
        return [tagged]
    pieces = [
        (turn.speaker or "S1", sentence)
        for turn in split_speaker_turns(tagged)
        for sentence in split_sentences(turn.text, max_chars=min(first.chars, rest.chars))
    ]
    segments: list[str] = []
    current, current_speaker = "", None
    for speaker, sentence in pieces:
        joined = f"{current} {sentence}" if speaker == current_speaker else f"{current} [{speaker}] {sentence}"
        budget = rest if segments else first
        if current and not budget.fits(joined.strip()):
            segments.append(current.strip())
            joined = f"[{speaker}] {sentence}"
        current, current_speaker = joined, speaker
    if current.strip():
        segments.append(current.strip())
    return segments


def speech_budget(prompt_bytes: int, prompt_seconds: float, window_seconds: float) -> SegmentBudget:
    """The budget left for new text once a prompt (transcript + audio) takes part of both windows."""
    seconds = min(SEGMENT_SECONDS, window_seconds - prompt_seconds - 3.0)
    return SegmentBudget(seconds=max(seconds, 2.0), text_bytes=max(TEXT_BYTES - prompt_bytes - 2 * _TAG_BYTES, 64))


def segment_text(
    tagged: str, *, window_seconds: float, prompt: tuple[int, float] | None, max_chars: int | None = None
) -> list[str]:
    """Segments for one request. With a reference `prompt` (transcript bytes, audio seconds) every segment
    shares the windows with it; without one, a split text's first segment stays short because the later
    segments carry it (text and audio) as their prompt. `max_chars` caps every segment further."""
    if prompt is not None:
        whole = first = rest = speech_budget(prompt[0], prompt[1], window_seconds)
    else:
        whole = SegmentBudget(SEGMENT_SECONDS, TEXT_BYTES - 2 * _TAG_BYTES)
        first = SegmentBudget(FIRST_SEGMENT_SECONDS, FIRST_SEGMENT_BYTES)
        rest = speech_budget(FIRST_SEGMENT_BYTES, FIRST_SEGMENT_SECONDS * 1.3, window_seconds)
    if max_chars:
        whole, first, rest = (
            SegmentBudget(min(budget.seconds, max_chars / CHARS_PER_SECOND), budget.text_bytes)
            for budget in (whole, first, rest)
        )
    return plan_segments(tagged, whole, first, rest)
