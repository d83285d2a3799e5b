"""Cutting a request's text into the chunks S1-mini speaks one generation at a time.

`chunk_length` (the S1 API's field) is the target: sentences are packed into chunks of about that many
characters, cut only at sentence boundaries; a sentence longer than that is cut at clause breaks, then between
words. Every chunk is spoken in the same voice (the same prompt), so a long text keeps one voice.
"""

from __future__ import annotations

from tts_server.audio.text import SPEAKER_TAG_RE, normalize_text, split_sentences

DEFAULT_CHUNK_CHARS = 200  # the S1 API's default chunk_length


def chunk_text(text: str, chunk_chars: int | None, language: str = "en") -> list[str]:
    """Normalised chunks of about `chunk_chars` characters (default 200), in order, none empty."""
    limit = max(1, chunk_chars or DEFAULT_CHUNK_CHARS)
    plain = " ".join(SPEAKER_TAG_RE.sub(" ", text).split())  # S1 has no [S1]/[S2] turns
    chunks: list[str] = []
    for sentence in split_sentences(plain, max_chars=limit):
        if chunks and len(chunks[-1]) + 1 + len(sentence) <= limit:
            chunks[-1] += " " + sentence
        else:
            chunks.append(sentence)
    spoken = [normalize_text(chunk, language) for chunk in chunks]
    return [chunk for chunk in spoken if chunk.strip()]
