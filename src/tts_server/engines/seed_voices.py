"""Named voices for engines with no speakers of their own (Dia, S1-mini): each name is a fixed seed.

Such a model invents a new speaker for every generation unless something conditions it; a built-in name is
a seed from which the engine makes (and keeps) the voice's prompt on its first use. The names are the
built-in engine's, so every client's voice list works with any engine; the seeds are shared by these engines.
"""

from __future__ import annotations

from collections.abc import Callable

from tts_server.engines.base import VoiceInfo

# name -> seed
BUILTIN_SEEDS: dict[str, int] = {
    "default": 1234,
    "aria": 2001,
    "atlas": 2002,
    "luna": 2003,
    "kai": 2004,
    "zara": 2005,
    "nova": 2006,
    "alloy": 3001,
    "ash": 3002,
    "ballad": 3003,
    "coral": 3004,
    "echo": 3005,
    "fable": 3006,
    "onyx": 3007,
    "sage": 3008,
    "shimmer": 3009,
    "verse": 3010,
    "marin": 3011,
    "cedar": 3012,
}


def seed_voice_list(describe: Callable[[int], str]) -> list[VoiceInfo]:
    """Every named voice, described by the engine (`describe` gets the voice's seed)."""
    return [
        VoiceInfo(voice_id=name, name=name.capitalize(), description=describe(seed))
        for name, seed in BUILTIN_SEEDS.items()
    ]


def is_seed_voice(name: str) -> bool:
    """Whether `name` (any case, spaces around) is one of the named voices."""
    return name.strip().lower() in BUILTIN_SEEDS
