"""Dia's delay pattern: channel c of the codes runs `delay[c]` frames behind channel 0.

The decoder predicts one position of all 9 channels per step, so a frame (all channels of one time step)
is complete only `max(delay)` steps after its channel 0. The grid keeps a request's codes in that delayed
layout, forces the BOS and audio-prompt tokens, ends every channel in turn after channel 0's EOS, and hands
out the complete frames undelayed for the codec.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class DelayedGrid:
    """One request's codes in Dia's delayed layout: position q of channel c holds frame q - delay[c].

    Undelayed frame 0 is BOS, frames 1..T the audio prompt, T+1.. the new audio. Prompt and BOS positions are
    forced; channel 0 decides the end (EOS), and the other channels follow it `delay[c]` steps later."""

    def __init__(
        self,
        prompt: NDArray[np.int64] | None,
        max_new_frames: int,
        delays: list[int],
        *,
        bos: int,
        eos: int,
        pad: int,
    ) -> None:
        self.delays = np.asarray(delays, dtype=np.int64)
        self.max_delay = int(self.delays.max())
        self.eos, self.pad = eos, pad
        self.prompt_frames = 0 if prompt is None else len(prompt)
        self.eos_limit = self.prompt_frames + max_new_frames + 1  # EOS is forced at this frame
        self.tokens = np.full((self.eos_limit + self.max_delay + 1, len(delays)), -1, dtype=np.int64)
        for channel, delay in enumerate(delays):
            self.tokens[: delay + 1, channel] = bos
            if prompt is not None:
                self.tokens[delay + 1 : delay + 1 + self.prompt_frames, channel] = prompt[:, channel]
        self.position = self.prompt_frames  # last filled position: the next step's input
        self.eos_frame: int | None = None

    @property
    def prefix(self) -> NDArray[np.int64]:
        """Positions before the first input, for the decoder prefill (empty without a prompt)."""
        return self.tokens[: self.position]

    @property
    def next_input(self) -> NDArray[np.int64]:
        row: NDArray[np.int64] = self.tokens[self.position]
        return row

    @property
    def done(self) -> bool:
        return self.eos_frame is not None and self.position >= self.eos_frame + self.max_delay

    def accept(self, sampled: NDArray[np.int64]) -> None:
        """Store the tokens sampled for the next position, keeping forced prompt/BOS tokens and the EOS tail."""
        q = self.position + 1
        frame = q - self.delays  # undelayed frame per channel
        free = frame > self.prompt_frames
        if self.eos_frame is None and free[0] and (sampled[0] == self.eos or q >= self.eos_limit):
            self.eos_frame = q
        row = np.where(free, sampled, self.tokens[q])
        if self.eos_frame is not None:
            row = np.where(frame == self.eos_frame, self.eos, np.where(frame > self.eos_frame, self.pad, row))
        self.tokens[q] = row
        self.position = q

    @property
    def ready_frames(self) -> int:
        """New audio frames (after the prompt) whose every channel has been generated."""
        last = self.position - self.max_delay
        if self.eos_frame is not None:
            last = min(last, self.eos_frame - 1)
        return max(0, last - self.prompt_frames)

    def new_frames(self, start: int, stop: int) -> NDArray[np.int64]:
        """Undelayed codes [channels, stop - start] of new frames start..stop (0 = first frame after the prompt)."""
        base = self.prompt_frames + 1
        columns = [self.tokens[base + start + d : base + stop + d, c] for c, d in enumerate(self.delays)]
        frames: NDArray[np.int64] = np.stack(columns)
        return frames
