"""The prompt S1-mini continues: an interleaved sequence of speaker turns, text and audio codes.

    <|interleave|>
    <|speaker:0|> reference text  <|semantic:c0|>... (one per reference frame)  <|im_end|>   (per reference)
    <|speaker:0|> new text

As an array of 1 + codebooks rows: row 0 holds token ids; rows 1.. hold a frame's codes at audio positions and
0 elsewhere. The model answers with audio frames for the new text and ends with <|im_end|>. Each piece is
tokenized on its own, as in the reference, so token boundaries never cross a marker. Text from users is
tokenized with special-token names spelled out (the reference would obey them), so it cannot add markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tts_server.engines.s1.tokenizer import IM_END, INTERLEAVE, S1Tokenizer, speaker_token

SPEAKER = 0


@dataclass(frozen=True, slots=True)
class VoicePrompt:
    """Speech the model continues in the same voice: its words and its codes [codebooks, frames]."""

    text: str
    codes: NDArray[np.int64]

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])


def build_prompt(
    tokenizer: S1Tokenizer, text: str, voices: Sequence[VoicePrompt], *, num_codebooks: int
) -> NDArray[np.int64]:
    """The prompt [1 + num_codebooks, T] for speaking `text` in the voice of `voices` (none: any voice)."""
    pieces: list[NDArray[np.int64]] = [_text(tokenizer, INTERLEAVE, num_codebooks, markers=True)]
    for voice in voices:
        if voice.codes.shape[0] != num_codebooks:
            raise ValueError(f"voice codes have {voice.codes.shape[0]} codebooks, the model {num_codebooks}")
        pieces.append(_text(tokenizer, speaker_token(SPEAKER), num_codebooks, markers=True))
        pieces.append(_text(tokenizer, voice.text, num_codebooks))
        pieces.append(_audio(tokenizer, voice.codes))
        pieces.append(_text(tokenizer, IM_END, num_codebooks, markers=True))
    pieces.append(_text(tokenizer, speaker_token(SPEAKER), num_codebooks, markers=True))
    pieces.append(_text(tokenizer, text, num_codebooks))
    return np.concatenate(pieces, axis=1)


def _text(tokenizer: S1Tokenizer, text: str, num_codebooks: int, *, markers: bool = False) -> NDArray[np.int64]:
    ids = tokenizer.encode(text, specials=markers)
    rows = np.zeros((1 + num_codebooks, len(ids)), dtype=np.int64)
    rows[0] = ids
    return rows


def _audio(tokenizer: S1Tokenizer, codes: NDArray[np.int64]) -> NDArray[np.int64]:
    if codes.size and (codes[0].min() < 0 or codes[0].max() >= tokenizer.semantic_count):
        raise ValueError(f"codebook-0 codes must lie in 0..{tokenizer.semantic_count - 1}")
    rows = np.zeros((1 + codes.shape[0], codes.shape[1]), dtype=np.int64)
    rows[0] = codes[0] + tokenizer.semantic_begin_id
    rows[1:] = codes
    return rows
