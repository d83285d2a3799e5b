"""Batched S1-mini generation: requests join and leave between frames, each with its own cache and sampling.

A row is one prompt being continued. Joining runs the row's prompt through the slow transformer alone (its
prefill) and samples its first frame; from then on every `step` decodes one frame for all rows together:

- the slow transformer's keys and values live in preallocated caches, one slot per row, packed at the front
  (a row that leaves is swapped with the last); each row attends only to its own positions;
- the fast transformer spells out codebooks 1-9 for all rows at once (its cache is fresh every frame);
- each row samples with its own temperature, top-p, repetition penalty and torch.Generator (sampling.py).

A frame is 1 + codebooks tokens: the main token (a semantic token, or <|im_end|> when the row is done) and its
codes. The repetition penalty follows the reference exactly: frames after the first are kept in a history; at
decode step i the window is history[i-16:i] (history[0:16], zero-padded, while i < 16). Codebook k is
penalised with its own row of the window; the main token, as the reference indexes it, with the *first
column* of the window: the 11 tokens (main token and codes) of one frame, 16 frames back.

Where we part from the reference on purpose: a row ends at an <|im_end|> in *any* frame (the reference does not
check the first one and would go on), and a row stopped by its frame cap keeps its last frame (the reference
drops the last frame whatever ended it, assuming it is the <|im_end|>).

Seeded rows give the reference's tokens for a request on its own. In a batch, a row's numbers stay its own
(own generator, row-wise sampling); the model's matmuls over a bigger batch may round differently in the last
bit, so a batched row matches its solo run on CPU in practice but is not promised to on every device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from tts_server.engines.s1.model import RESIDUAL_CODEBOOK_SIZE, DualARModel
from tts_server.engines.s1.sampling import RowParams, SamplingSettings, sample_rows

RowT = TypeVar("RowT")
WINDOW = 16  # frames the repetition penalty looks back
_TIME_BLOCK = 256  # cache positions grow in blocks, so reallocations stay rare
_SPAN_BLOCK = 16  # attended positions rounded up: fewer distinct shapes for torch.compile


@dataclass(slots=True)
class _Slot(Generic[RowT]):
    owner: RowT
    position: int  # where the next input frame goes (= cached positions)
    decoded: int  # frames produced by decode steps (the first frame comes from the prefill)
    settings: SamplingSettings
    generator: torch.Generator


class BatchGenerator(Generic[RowT]):
    """The rows being generated, each tied to a caller-side object `RowT`. Not thread-safe."""

    def __init__(self, model: DualARModel, *, device: torch.device, dtype: torch.dtype) -> None:
        self.model = model
        self.device, self.dtype = device, dtype
        self.max_positions = model.config.max_seq_len
        self.frame_size = 1 + model.num_codebooks
        self._slots: list[_Slot[RowT]] = []
        self._reset()
        self._decode: Callable[..., tuple[Tensor, Tensor]] = model.decode
        self._fast_step: Callable[..., Tensor] = model.fast_step
        self.compiled = False

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def rows(self) -> list[RowT]:
        return [slot.owner for slot in self._slots]

    def enable_compile(self) -> None:
        """torch.compile the per-frame steps (once; shapes are dynamic, so joins and leaves do not recompile).
        The prefill stays eager: every prompt has its own length."""
        if not self.compiled:
            self._decode = torch.compile(self.model.decode, dynamic=True)
            self._fast_step = torch.compile(self.model.fast_step, dynamic=True)
            self.compiled = True

    def positions_left(self, row: RowT) -> int:
        """Frames the row may still produce before the model's context is full."""
        return self.max_positions - self._slots[self.rows.index(row)].position

    # --- joining and leaving -------------------------------------------------------------------------------

    @torch.inference_mode()
    def add(self, owner: RowT, prompt: NDArray[np.int64], settings: SamplingSettings, seed: int) -> NDArray[np.int64]:
        """Prefill `prompt` [1 + codebooks, T] and sample the row's first frame, which is returned."""
        length = prompt.shape[1]
        if length + 1 >= self.max_positions:
            raise ValueError(f"the prompt ({length} tokens) fills the model's {self.max_positions}-token context")
        tokens = torch.as_tensor(prompt, device=self.device)
        prefill = self.model.prefill(tokens)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        params = RowParams.of([settings], dtype=prefill.logits.dtype, device=self.device)
        main = sample_rows(prefill.logits[None], params, [generator])
        frame = self._fast_frame(prefill.hidden[None], main, params, [generator], windows=None)
        slot = len(self._slots)
        self._ensure_capacity(slot + 1, length + 1)
        for layer, (keys, values) in enumerate(zip(prefill.keys, prefill.values, strict=True)):
            self._keys[layer][slot, :, :length] = keys
            self._values[layer][slot, :, :length] = values
        self._inputs[slot] = frame[0]
        self._history[slot] = 0
        self._slots.append(_Slot(owner, length, 0, settings, generator))
        result: NDArray[np.int64] = frame[0].cpu().numpy()
        return result

    def remove(self, owner: RowT) -> None:
        """Leave the batch: the last row moves into the freed slot."""
        slot = self.rows.index(owner)
        last = len(self._slots) - 1
        if slot != last:
            with torch.inference_mode():
                for cache in (*self._keys, *self._values, self._inputs, self._history):
                    cache[slot] = cache[last]
            self._slots[slot] = self._slots[last]
        self._slots.pop()
        if not self._slots:
            self._reset()

    # --- stepping ------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def step(self) -> NDArray[np.int64]:
        """The next frame [B, 1 + codebooks] of every row, in `rows` order."""
        slots, batch = self._slots, len(self._slots)
        positions = torch.tensor([slot.position for slot in slots], device=self.device)
        span = min(self.max_positions, -(-(max(slot.position for slot in slots) + 1) // _SPAN_BLOCK) * _SPAN_BLOCK)
        self._ensure_capacity(batch, span)
        logits, hidden = self._decode(self._inputs[:batch], positions, self._keys, self._values, span)
        params = RowParams.of([slot.settings for slot in slots], dtype=logits.dtype, device=self.device)
        generators = [slot.generator for slot in slots]
        windows = self._windows(slots)
        main = sample_rows(logits, params, generators, previous=windows[:, :, 0])
        frames = self._fast_frame(hidden, main, params, generators, windows=windows)
        decoded = torch.tensor([slot.decoded for slot in slots], device=self.device)
        self._history[torch.arange(batch, device=self.device), :, decoded] = frames
        self._inputs[:batch] = frames
        for slot in slots:
            slot.position += 1
            slot.decoded += 1
        result: NDArray[np.int64] = frames.cpu().numpy()
        return result

    def _windows(self, slots: list[_Slot[RowT]]) -> Tensor:
        """Each row's repetition window [B, 1 + codebooks, WINDOW] of decoded frames (see the module doc)."""
        starts = torch.tensor([max(0, slot.decoded - WINDOW) for slot in slots], device=self.device)
        index = (starts[:, None] + torch.arange(WINDOW, device=self.device))[:, None, :]
        return self._history[: len(slots)].gather(2, index.expand(-1, self.frame_size, -1))

    def _fast_frame(
        self,
        hidden: Tensor,
        main: Tensor,
        params: RowParams,
        generators: list[torch.Generator],
        windows: Tensor | None,
    ) -> Tensor:
        """Codebooks for each row's main token: codebook 0 from the token, 1.. from the fast transformer."""
        model = self.model
        cache = model.new_fast_cache(len(main), self.device, hidden.dtype)
        positions = torch.arange(model.num_codebooks, device=self.device)
        self._fast_step(hidden, positions[0], cache)
        code = model.codebook_zero(main)
        columns = [main, code]
        cut = min(RESIDUAL_CODEBOOK_SIZE, model.config.codebook_size)
        for codebook in range(1, model.num_codebooks):
            logits = self._fast_step(model.fast_embeddings(code), positions[codebook], cache)[:, :cut]
            previous = None if windows is None else windows[:, codebook + 1]
            code = sample_rows(logits, params, generators, previous=previous)
            columns.append(code)
        return torch.stack(columns, dim=1)

    # --- caches --------------------------------------------------------------------------------------------

    def _reset(self) -> None:
        self._keys: list[Tensor] = []
        self._values: list[Tensor] = []
        self._inputs = torch.zeros(0, self.frame_size, dtype=torch.long, device=self.device)
        self._history = torch.zeros(0, self.frame_size, 0, dtype=torch.long, device=self.device)

    def _ensure_capacity(self, rows: int, positions: int) -> None:
        have_rows = self._inputs.shape[0]
        have_time = self._keys[0].shape[2] if self._keys else 0
        if rows <= have_rows and positions <= have_time:
            return
        new_rows = max(rows, 2 * have_rows, 1) if rows > have_rows else have_rows
        new_time = max(have_time, min(self.max_positions, -(-positions // _TIME_BLOCK) * _TIME_BLOCK))
        shape = self.model.slow_shape

        def grown(old: Tensor | None, size: tuple[int, ...], dtype: torch.dtype) -> Tensor:
            tensor = torch.zeros(size, dtype=dtype, device=self.device)
            if old is not None and old.numel():
                tensor[tuple(slice(0, n) for n in old.shape)] = old
            return tensor

        cache_shape = (new_rows, shape.n_local_heads, new_time, shape.head_dim)
        empty: list[Tensor | None] = [None] * len(self.model.layers)
        self._keys = [grown(old, cache_shape, self.dtype) for old in self._keys or empty]
        self._values = [grown(old, cache_shape, self.dtype) for old in self._values or empty]
        self._inputs = grown(self._inputs, (new_rows, self.frame_size), torch.long)
        self._history = grown(self._history, (new_rows, self.frame_size, self.max_positions), torch.long)
