"""Whole generations two ways: transformers' `DiaForConditionalGeneration.generate()` (the reference) and our
engine driven step by step, with requests joining and leaving when a test says so."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from tts_server.engines.base import AudioChunk, SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.dia.delay import DelayedGrid
from tts_server.engines.dia.engine import DiaEngine, DiaJob, JobTrace, SegmentRow
from tts_server.engines.dia.loading import DiaBundle

EOS = 1024
DELAY_TAIL = 16  # transformers' max_new_tokens counts the EOS frame and the 15-frame delay tail


@dataclass
class Generated:
    codes: NDArray[np.int64]  # [positions, channels] in the delayed layout, BOS (and prompt) included
    audio: NDArray[np.float32]


def reference_generate(
    bundle: DiaBundle,
    text: str,
    *,
    frames: int,
    top_k: int = 1,
    cfg_scale: float = 3.0,
    prompt: NDArray[np.float32] | None = None,
) -> Generated:
    """Greedy (do_sample=False) generation with guidance, as transformers' Dia documentation runs it."""
    processor = bundle.processor
    audio = None if prompt is None else [prompt]
    inputs = processor(text=[text], audio=audio, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = bundle.model.generate(
            **inputs, max_new_tokens=frames + DELAY_TAIL, do_sample=False, guidance_scale=cfg_scale, top_k=top_k
        )
    prompt_len = None if prompt is None else processor.get_audio_prompt_len(inputs["decoder_attention_mask"])
    decoded = processor.batch_decode(out, audio_prompt_len=prompt_len)[0]
    return Generated(out[0].numpy(), decoded.numpy().astype(np.float32))


def greedy_request(
    text: str, request_id: str, *, frames: int, top_k: int = 1, voice: VoiceSelection | None = None
) -> SynthesisRequest:
    return SynthesisRequest(
        text=text,
        voice=voice or VoiceSelection("plain"),
        sampling=SamplingParams(temperature=0.0, top_k=top_k, cfg_scale=3.0, max_new_tokens=frames, seed=1),
        request_id=request_id,
    )


@dataclass
class Outcome:
    grid: DelayedGrid
    chunks: list[AudioChunk] = field(default_factory=list)

    @property
    def codes(self) -> NDArray[np.int64]:
        return self.grid.tokens[: self.grid.position + 1]

    @property
    def audio(self) -> NDArray[np.float32]:
        return np.concatenate([np.zeros(0, np.float32), *(chunk.samples for chunk in self.chunks)])


class EngineDriver:
    """Steps a DiaEngine by hand: `run({step: [requests]})` submits each request before that step and returns
    every request's grid and audio once the engine is idle."""

    def __init__(self, engine: DiaEngine) -> None:
        self.engine = engine
        self.outcomes: dict[str, Outcome] = {}
        self._chunks: dict[str, list[AudioChunk]] = {}
        remove = engine.decoder.remove

        def remove_and_keep(row: SegmentRow) -> None:
            request_id = row.job.request.request_id
            self.outcomes[request_id] = Outcome(row.grid, self._chunks.get(request_id, []))
            remove(row)

        engine.decoder.remove = remove_and_keep  # type: ignore[method-assign]

    def run(self, schedule: Mapping[int, Sequence[SynthesisRequest]]) -> dict[str, Outcome]:
        pending = dict(schedule)
        start = self.engine.stats.steps
        while True:
            now, idle = self.engine.stats.steps - start, self.engine.active_jobs == 0
            due = [step for step in sorted(pending) if step <= now] or ([min(pending)] if idle and pending else [])
            for step in due:
                for request in pending.pop(step):
                    self._submit(request)
            if not self.engine.step() and not pending:
                return self.outcomes

    def _submit(self, request: SynthesisRequest) -> None:
        self._chunks[request.request_id] = chunks = []
        self.engine.submit(DiaJob(request, lambda item: _keep(chunks, item)))

    def trace(self, request_id: str) -> JobTrace:
        return self.engine.stats.traces[request_id]


def _keep(chunks: list[AudioChunk], item: AudioChunk | BaseException | None) -> None:
    if isinstance(item, BaseException):
        raise item
    if item is not None:
        chunks.append(item)


@contextlib.contextmanager
def early_eos(bundle: DiaBundle, text: str, *, frames: int, at_frame: int) -> Iterator[DiaBundle]:
    """The model, for the duration, with its channel-0 EOS logit at 1.01x that of a token greedy decoding of
    `text` picks first at `at_frame` or later: EOS wins the first time that token would (random weights never
    end on their own). The weights are restored afterwards."""
    picks = [int(token) for token in reference_generate(bundle, text, frames=frames).codes[1 : frames + 1, 0]]
    token = next(token for frame, token in enumerate(picks) if frame >= at_frame and token not in picks[:frame])
    weight = bundle.model.logits_dense.weight.data  # rows are channel-major: row EOS is channel 0's EOS
    original = weight[EOS].clone()
    weight[EOS] = weight[token] * 1.01
    try:
        yield bundle
    finally:
        weight[EOS] = original
