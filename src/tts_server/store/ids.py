"""Ids that become file names: checked once, at the edge, before anything touches the disk."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tts_server.errors import InvalidId

MAX_ID_LENGTH = 64
_VOICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_valid_voice_id(value: str) -> bool:
    """True when `value` is 1-64 ASCII letters, digits, '_' or '-' (so it is safe as a file name)."""
    return _VOICE_ID.fullmatch(value) is not None


def validate_voice_id(value: str, param: str) -> str:
    """Return `value` unchanged when it is a valid id; raise InvalidId (400) saying why otherwise."""
    if is_valid_voice_id(value):
        return value
    raise InvalidId(_why_invalid(value, param), param=param)


def _why_invalid(value: str, param: str) -> str:
    rule = f"'{param}' must be 1-{MAX_ID_LENGTH} characters of letters, digits, '_' or '-'"
    if not value:
        return f"{rule}; it is empty."
    if len(value) > MAX_ID_LENGTH:
        return f"{rule}; it has {len(value)} characters."
    bad = next(char for char in value if _VOICE_ID.fullmatch(char) is None)
    shown = value if len(value) <= 80 else value[:77] + "..."
    return f"{rule}; {shown!r} contains {bad!r}."


class KnownIds:
    """The ids a table may hold, kept in memory so that a name no row can have (a built-in voice, on
    nearly every speech request) is answered without a database round trip in a worker thread.

    Always a superset of the table's ids (case-insensitive, as the tables are): writers call `adding`
    before a write that may create the id and `deleted` only once a delete is certain, under the same
    lock that orders writes of that id. An id the set lacks therefore has no row; an id it has may not
    (a failed write leaves it behind), so a hit still asks the database.
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids = {voice_id.lower() for voice_id in ids}

    def may_exist(self, voice_id: str) -> bool:
        return voice_id.lower() in self._ids

    def adding(self, voice_id: str) -> None:
        self._ids.add(voice_id.lower())

    def deleted(self, voice_id: str) -> None:
        self._ids.discard(voice_id.lower())
