"""Ids that become file names: checked once, at the edge, before anything touches the disk."""

from __future__ import annotations

import re

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
