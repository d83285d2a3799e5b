"""From Dia's codes to audio while they are being generated, and back from audio to codes for prompts.

The DAC decoder is convolutional: an output frame depends on about 10 frames either side (measured on the
44.1 kHz codec by perturbing one frame). Decoding a window with 16 frames of left context and 12 frames of
lookahead therefore reproduces a whole-clip decode up to float rounding, so audio can leave as soon as
about a second of frames (plus the lookahead) exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from tts_server.audio.effects import crossfade_concat
from tts_server.engines.dia.delay import DelayedGrid

CONTEXT_FRAMES = 16
LOOKAHEAD_FRAMES = 12


def decode_codes(codec: Any, codes: NDArray[np.int64]) -> NDArray[np.float32]:
    """Audio for undelayed codes [channels, frames]: frames * hop samples, float32 in [-1, 1]."""
    if codes.shape[1] == 0:
        return np.zeros(0, dtype=np.float32)
    tensor = torch.as_tensor(codes, device=codec.device).clamp(0, codec.config.codebook_size - 1)[None]
    with torch.inference_mode():
        audio = codec.decode(audio_codes=tensor).audio_values[0]
    samples: NDArray[np.float32] = audio.float().cpu().numpy().astype(np.float32, copy=False)
    return samples


def encode_audio(codec: Any, samples: NDArray[np.float32]) -> NDArray[np.int64]:
    """Undelayed codes [frames, channels] of mono audio at the codec's rate (padded to whole frames)."""
    hop = int(codec.config.hop_length)
    padded = np.pad(samples.astype(np.float32), (0, -len(samples) % hop))
    tensor = torch.as_tensor(padded, device=codec.device)[None, None]
    with torch.inference_mode():
        codes = codec.encode(tensor).audio_codes[0]  # [channels, frames]
    frames: NDArray[np.int64] = codes.T.cpu().numpy().astype(np.int64)
    return frames


class StreamingCodec:
    """Decodes one request's frames window by window as the grid fills; `pull` returns new audio or None."""

    def __init__(self, codec: Any, *, first_chunk_frames: int, chunk_frames: int) -> None:
        self._codec = codec
        self._hop = int(codec.config.hop_length)
        self._first = max(1, first_chunk_frames)
        self._chunk = max(1, chunk_frames)
        self.emitted = 0  # frames already turned into audio

    def pull(self, grid: DelayedGrid, *, final: bool = False) -> NDArray[np.float32] | None:
        ready = grid.ready_frames
        stop = ready if final else ready - LOOKAHEAD_FRAMES
        wanted = 1 if final else (self._first if self.emitted == 0 else self._chunk)
        if stop - self.emitted < wanted:
            return None
        start = max(0, self.emitted - CONTEXT_FRAMES)
        end = min(ready, stop + LOOKAHEAD_FRAMES)
        audio = decode_codes(self._codec, grid.new_frames(start, end))
        piece = audio[(self.emitted - start) * self._hop : (stop - start) * self._hop]
        self.emitted = stop
        return piece


class SegmentJoiner:
    """Joins the audio of consecutive text segments with a short crossfade, without buffering more than it.

    The last `fade_ms` of a segment are held back until the next segment's first audio arrives."""

    def __init__(self, sample_rate: int, fade_ms: float = 40.0) -> None:
        self._rate = sample_rate
        self._fade_ms = fade_ms
        self._fade = round(sample_rate * fade_ms / 1000)
        self._tail: NDArray[np.float32] | None = None

    def feed(self, samples: NDArray[np.float32], *, segment_ends: bool, more_segments: bool) -> NDArray[np.float32]:
        if self._tail is not None and len(samples):
            samples = crossfade_concat([self._tail, samples], self._rate, self._fade_ms)
            self._tail = None
        if segment_ends and more_segments:
            cut = max(0, len(samples) - self._fade)
            samples, self._tail = samples[:cut], samples[cut:]
        return samples

    def flush(self) -> NDArray[np.float32]:
        tail, self._tail = self._tail, None
        return tail if tail is not None else np.zeros(0, dtype=np.float32)
