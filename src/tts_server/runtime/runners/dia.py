"""DiaRunner: the async face of the Dia engine, with continuous batching.

The worker thread, the waiting list, admission, the per-request queues and cancellation are the shared
continuous-batching core (runners.continuous_batching); this module says how Dia is built and what its jobs
and voices are. Requests that arrive mid-generation join the batch at the next decoding step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tts_server.engines.base import SynthesisRequest, VoiceInfo
from tts_server.engines.dia.loading import DiaBundle, dia_engine_info, load_dia
from tts_server.engines.dia.voices import builtin_voices
from tts_server.engines.seed_voices import is_seed_voice
from tts_server.runtime.runners.continuous_batching import ContinuousBatchingRunner, Emit
from tts_server.store.dia_prompts import PROMPTS_DIR

if TYPE_CHECKING:
    from tts_server.engines.dia.engine import DiaEngine, DiaJob, DiaStats
    from tts_server.settings import Settings


class DiaRunner(ContinuousBatchingRunner["DiaEngine", "DiaJob"]):
    """Serves Dia to the async side. Constructor arguments mirror the TTS_DIA_* settings (`from_settings`);
    `loader` replaces `load_dia` (tests, benchmarks); the chunk sizes are in codec frames (~86 per second).
    `max_new_tokens` (TTS_DIA_MAX_NEW_TOKENS) caps the frames of each text segment: the default for requests
    that name no limit, the ceiling for those that do; None lets a segment fill the model's window."""

    extra = "dia"

    def __init__(
        self,
        *,
        model: str,
        codec: str,
        device: str = "auto",
        dtype: str = "auto",
        max_batch: int = 8,
        max_queue: int = 64,
        compile: bool = False,
        max_new_tokens: int | None = None,
        first_chunk_frames: int = 86,
        chunk_frames: int = 86,
        voice_prompt_dir: Path | None = None,
        voice_prompt_frames: int | None = None,
        loader: Callable[[], DiaBundle] | None = None,
    ) -> None:
        super().__init__(
            info=dia_engine_info(device), name="Dia", max_batch=max_batch, max_queue=max_queue, compile=compile
        )
        self.max_new_tokens = max_new_tokens
        self._chunk_frames = (first_chunk_frames, chunk_frames)
        # built-in voices' stored prompts (None: kept in memory), and their length (None: the engine's ~10 s,
        # or max_new_tokens when that is less)
        self._voice_prompts = (voice_prompt_dir, voice_prompt_frames or max_new_tokens)
        self._loader = loader or (lambda: load_dia(model, codec, device, dtype))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> DiaRunner:
        options: dict[str, object] = {
            "model": settings.dia_model,
            "codec": settings.dia_codec,
            "device": settings.device.value,
            "dtype": settings.dia_dtype,
            "max_batch": settings.dia_max_batch,
            "max_queue": settings.max_queue,
            "compile": settings.dia_compile,
            "max_new_tokens": settings.dia_max_new_tokens,
            "voice_prompt_dir": settings.data_dir / PROMPTS_DIR,
        }
        return cls(**{**options, **overrides})  # type: ignore[arg-type]

    @property
    def stats(self) -> DiaStats | None:
        """Step counter, batch sizes and per-request traces; None until loaded. Read-only from outside."""
        return self._engine.stats if self._engine is not None else None

    def voices(self) -> Sequence[VoiceInfo]:
        return builtin_voices()

    def has_voice(self, name: str) -> bool:
        return is_seed_voice(name)

    # --- the engine's own parts ----------------------------------------------------------------------------

    def _prepare(self, request: SynthesisRequest) -> SynthesisRequest:
        return self._within_frame_cap(request)

    def _new_job(self, request: SynthesisRequest, emit: Emit) -> DiaJob:
        from tts_server.engines.dia.engine import DiaJob

        return DiaJob(request, emit)

    def _within_frame_cap(self, request: SynthesisRequest) -> SynthesisRequest:
        cap, wanted = self.max_new_tokens, request.sampling.max_new_tokens
        if cap is None or (wanted is not None and wanted <= cap):
            return request
        return replace(request, sampling=replace(request.sampling, max_new_tokens=cap))

    def _build_engine(self) -> DiaEngine:
        from tts_server.engines.dia.engine import DiaEngine

        first, chunk = self._chunk_frames
        engine = DiaEngine(
            self._loader(),
            max_batch=self.max_batch,
            compile_step=self._compile,
            first_chunk_frames=first,
            chunk_frames=chunk,
            voice_prompt_dir=self._voice_prompts[0],
            voice_prompt_frames=self._voice_prompts[1],
            size_batch=True,
        )
        self.max_batch = engine.max_batch  # what the free memory holds, at most TTS_DIA_MAX_BATCH
        return engine
