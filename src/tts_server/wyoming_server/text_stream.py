"""Text that arrives in pieces (Wyoming's synthesize-chunk, an LLM's tokens), cut where a sentence ends, so
each finished sentence can be spoken while the rest is still being written."""

from __future__ import annotations

import re

from tts_server.audio.text import split_sentences

# A sentence ends at . ! ? … ; (closing quotes or brackets may follow) once whitespace comes after it, or at a
# line break. The end of the text so far is never a boundary: the next piece may go on ("3." + "5 km").
_BOUNDARY = re.compile(r"[.!?…;]+[\"'\u201d\u2019\u00bb)\]]*\s+|\n+")
# Shorter stretches wait for more text: one engine call per "Hi." costs more than it saves.
MIN_CHARS = 20


class SentenceBuffer:
    """Collects text pieces; `add` returns the text that is complete, `finish` the rest, each cut into parts of
    at most `max_chars` (the longest text one synthesis takes) at sentence ends, else at clauses or words.

    What it holds stays under `max_chars`: text that runs that long with no sentence end is given out up to its
    last space (or whole, when it has none), so a client that never ends a sentence cannot grow it forever.
    """

    def __init__(self, max_chars: int, min_chars: int = MIN_CHARS) -> None:
        self._pending = ""
        self._max_chars = max_chars
        self._min_chars = min(min_chars, max_chars)

    def add(self, piece: str) -> list[str]:
        """Append `piece`; the complete text so far, in parts (none while no sentence long enough has ended)."""
        self._pending += piece
        end = self._last_boundary()
        if end is None and len(self._pending) >= self._max_chars:
            space = self._pending.rfind(" ", 0, self._max_chars)
            end = space + 1 if space > 0 else len(self._pending)
        if end is None:
            return []
        ready, self._pending = self._pending[:end], self._pending[end:]
        return self._parts(ready)

    def finish(self) -> list[str]:
        """Whatever is left, in parts; the buffer is empty afterwards."""
        rest, self._pending = self._pending, ""
        return self._parts(rest)

    def _last_boundary(self) -> int | None:
        ends = [match.end() for match in _BOUNDARY.finditer(self._pending)]
        long_enough = [end for end in ends if len(self._pending[:end].strip()) >= self._min_chars]
        return long_enough[-1] if long_enough else None

    def _parts(self, text: str) -> list[str]:
        if not text.strip():
            return []
        # min_chars = max_chars: consecutive sentences join up to the limit, so a long chunk is few syntheses
        return split_sentences(text, max_chars=self._max_chars, min_chars=self._max_chars)
