"""Reference voices for the cloning engines (Dia, S1-mini): the checks a clip must pass, reading it, and
the bounded cache that encodes each clip once per content hash.

Both engines clone from a clip *and its words*, so a reference without a transcript is refused before the
cache (another voice may share the same audio with a transcript), and a clip longer than the engine takes
is refused before it is decoded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from tts_server.audio.decode import AudioDecodeError, DecodedAudio, decode_audio
from tts_server.engines.base import ReferenceAudio
from tts_server.errors import AudioProcessingError, InvalidRequest

T = TypeVar("T")


def require_transcript(reference: ReferenceAudio, transcript: str, engine: str) -> None:
    """Refuse a reference whose `transcript` (as the engine reads it) is empty."""
    if not transcript.strip():
        raise InvalidRequest(
            f"Reference voice '{reference.voice_id}' has no transcript; {engine} needs the words of the reference "
            "to clone it. Add a transcript to the voice (or upload it with auto-transcription on).",
            param="voice",
        )


def read_clip(reference: ReferenceAudio, *, rate: int, max_seconds: float, engine: str, advice: str) -> DecodedAudio:
    """The reference's audio at `rate`, refused when longer than `max_seconds` (`advice`: the lengths that work
    best, for the message) or unreadable."""
    if reference.duration > max_seconds:
        raise AudioProcessingError(
            f"Reference voice '{reference.voice_id}' is {reference.duration:.1f} s long; {engine} clones from at "
            f"most {max_seconds:.0f} s ({advice}). Upload a shorter clip.",
            param="voice",
        )
    try:
        return decode_audio(reference.audio_path.read_bytes(), target_rate=rate, max_seconds=max_seconds)
    except (OSError, AudioDecodeError) as exc:
        raise AudioProcessingError(f"Reference voice '{reference.voice_id}' could not be read: {exc}") from exc


class ReferenceCache(Generic[T]):
    """What each reference encodes to, once per content hash; a bounded LRU cache."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, T] = OrderedDict()
        self.encodings = 0  # how many references were encoded (the rest came from the cache)

    def get(self, reference: ReferenceAudio, encode: Callable[[ReferenceAudio], T]) -> T:
        """The cached entry of `reference`, else `encode(reference)`, kept."""
        cached = self._entries.get(reference.content_hash)
        if cached is not None:
            self._entries.move_to_end(reference.content_hash)
            return cached
        entry = encode(reference)
        self.encodings += 1
        self._entries[reference.content_hash] = entry
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return entry
