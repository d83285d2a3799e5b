"""From S1-mini's codes to audio while they are being generated, and chunks joined without clicks.

The codec is causal, so a stream decoder turns each batch of frames into final audio at once (it carries its
own left context). Frames are handed to it in windows: a small first window, so the first audio leaves after
a fraction of a second of speech, then larger ones, so the codec runs on fewer, bigger pieces.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tts_server.audio.effects import crossfade_concat
from tts_server.engines.s1.codec import S1Codec, S1StreamDecoder


class RowAudio:
    """One generation's frames on their way to audio: collected, then decoded window by window.

    Windows count the row's own frames (`first_window`, small for a quick first audio, then `window`), so where a
    row's audio is cut into windows does not depend on what else runs: the same seed gives the same bytes. Rows
    whose windows fill at the same step with as many frames (rows that joined together) decode in one codec
    batch (`decode_together`), which rounds differently from decoding alone, by ~1e-7."""

    def __init__(self, codec: S1Codec, *, first_window: int, window: int) -> None:
        self._decoder = codec.stream_decoder()
        self._first, self._window = max(1, first_window), max(1, window)
        self._pending: list[NDArray[np.int64]] = []
        self.frames = 0  # frames received
        self.decoded = 0  # frames turned into audio

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, codes: NDArray[np.int64]) -> None:
        """One frame's codes [codebooks]."""
        self._pending.append(codes)
        self.frames += 1

    @property
    def due(self) -> bool:
        """Whether a window is full: its frames should become audio now."""
        return len(self._pending) >= (self._first if self.decoded == 0 else self._window)

    def pull(self, *, final: bool = False) -> NDArray[np.float32]:
        """This row alone: audio for its pending frames once a window is full (or everything, when `final`)."""
        if not self._pending or not (final or self.due):
            return np.zeros(0, dtype=np.float32)
        audio = self._decoder.push(self._take())
        return audio if not final else np.concatenate([audio, self._decoder.flush()])

    @staticmethod
    def decode_together(rows: Sequence[RowAudio]) -> list[NDArray[np.float32]]:
        """Audio for every row's pending frames, rows holding as many frames decoded in one codec batch."""
        audio: dict[int, NDArray[np.float32]] = {}
        by_length: dict[int, list[int]] = {}
        for index, row in enumerate(rows):
            by_length.setdefault(row.pending, []).append(index)
        for members in by_length.values():
            group = [rows[index] for index in members]
            codes = np.stack([row._take() for row in group])
            decoded = S1StreamDecoder.push_many([row._decoder for row in group], codes)
            audio.update(zip(members, decoded, strict=True))
        return [audio[index] for index in range(len(rows))]

    def _take(self) -> NDArray[np.int64]:
        codes = np.stack(self._pending, axis=1)
        self._pending.clear()
        self.decoded += codes.shape[1]
        return codes


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
