"""From S1-mini's codes to audio while they are being generated, and chunks joined without clicks.

The codec is causal, so a stream decoder turns each batch of frames into final audio at once (it carries its
own left context). Frames are handed to it in windows: a small first window, so the first audio leaves after
a fraction of a second of speech, then larger ones, so the codec runs on fewer, bigger pieces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tts_server.audio.effects import crossfade_concat

if TYPE_CHECKING:
    from tts_server.engines.s1.codec import S1Codec


class RowAudio:
    """One generation's frames on their way to audio: collected, then decoded window by window."""

    def __init__(self, codec: S1Codec, *, first_window: int, window: int) -> None:
        self._decoder = codec.stream_decoder()
        self._first, self._window = max(1, first_window), max(1, window)
        self._pending: list[NDArray[np.int64]] = []
        self.frames = 0  # frames received
        self.decoded = 0  # frames turned into audio

    def add(self, codes: NDArray[np.int64]) -> None:
        """One frame's codes [codebooks]."""
        self._pending.append(codes)
        self.frames += 1

    def pull(self, *, final: bool = False) -> NDArray[np.float32]:
        """Audio for the pending frames once a window is full (or everything, when `final`)."""
        wanted = self._first if self.decoded == 0 else self._window
        if not self._pending or (not final and len(self._pending) < wanted):
            return np.zeros(0, dtype=np.float32)
        codes = np.stack(self._pending, axis=1)
        self._pending.clear()
        self.decoded += codes.shape[1]
        audio = self._decoder.push(codes)
        return audio if not final else np.concatenate([audio, self._decoder.flush()])


class ChunkJoiner:
    """Joins the audio of consecutive text chunks with a short crossfade, buffering no more than the fade.

    The last `fade_ms` of audio always wait for what follows: the next piece of the same chunk (joined as it
    is), the first piece of the next chunk (crossfaded with it), or the end (`flush`)."""

    def __init__(self, sample_rate: int, fade_ms: float = 40.0) -> None:
        self._rate = sample_rate
        self._fade_ms = fade_ms
        self._fade = round(sample_rate * fade_ms / 1000)
        self._tail: NDArray[np.float32] = np.zeros(0, dtype=np.float32)
        self._seam = False  # the tail ends a chunk: crossfade it into the next one

    def feed(self, samples: NDArray[np.float32], *, chunk_ends: bool) -> NDArray[np.float32]:
        """Audio that can leave now, given the next `samples` of the current chunk."""
        if self._seam and len(samples):
            audio = crossfade_concat([self._tail, samples], self._rate, self._fade_ms)
            self._seam = False
        else:
            audio = np.concatenate([self._tail, samples])
        keep = min(self._fade, len(audio))
        ready, self._tail = audio[: len(audio) - keep], audio[len(audio) - keep :]
        self._seam = self._seam or chunk_ends
        return ready

    def flush(self) -> NDArray[np.float32]:
        tail, self._tail = self._tail, np.zeros(0, dtype=np.float32)
        self._seam = False
        return tail
