"""Cutting a request's text into the pieces an ONNX voice speaks one call at a time.

Sentences, as every engine streams; the first one shorter still when it is long, since a neural voice
makes a piece's audio all at once and the listener waits for the whole first piece. Later pieces stay
whole sentences, which keeps their intonation.
"""

from __future__ import annotations

from tts_server.audio.text import split_sentences


def text_pieces(text: str, max_chars: int, first_max_chars: int) -> list[str]:
    """Sentences of at most `max_chars`, the first cut (at a comma, then between words) to `first_max_chars`."""
    pieces = split_sentences(text, max_chars)
    if not pieces or len(pieces[0]) <= first_max_chars:
        return pieces
    head = split_sentences(pieces[0], first_max_chars)
    if len(head) == 1:
        return pieces  # one long word: nothing to cut
    return [head[0], " ".join(head[1:]), *pieces[1:]]
