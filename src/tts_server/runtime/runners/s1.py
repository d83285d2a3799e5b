"""S1Runner: the async face of the S1-mini engine, on the shared continuous-batching core.

The core (runners.continuous_batching) owns the worker thread, admission, per-request queues and cancellation;
this module says how S1-mini is built and what its jobs and voices are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tts_server.engines.base import SynthesisRequest, VoiceInfo
from tts_server.engines.s1.loading import S1Bundle, load_s1, s1_engine_info
from tts_server.engines.s1.voices import VOICE_SAMPLE_FRAMES, builtin_voices
from tts_server.engines.seed_voices import is_seed_voice
from tts_server.runtime.runners.continuous_batching import ContinuousBatchingRunner, Emit

if TYPE_CHECKING:
    from tts_server.engines.s1.engine import S1Engine
    from tts_server.engines.s1.jobs import S1Job, S1Stats
    from tts_server.settings import Settings

VOICES_FOLDER = "s1_voices"  # under TTS_DATA_DIR: the kept samples of named voices


class S1Runner(ContinuousBatchingRunner["S1Engine", "S1Job"]):
    """Serves S1-mini to the async side. Constructor arguments mirror the TTS_S1_* settings (`from_settings`);
    `loader` replaces `load_s1` (tests, benchmarks). Windows are in codec frames (~21.5 per second):
    `first_window` frames make the first streamed audio, `window` frames each later piece."""

    extra = "s1"

    def __init__(
        self,
        *,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        max_batch: int = 8,
        max_queue: int = 64,
        compile: bool = False,
        max_new_tokens: int | None = None,
        voice_dir: Path | None = None,
        first_window: int = 10,
        window: int = 43,
        voice_sample_frames: int = VOICE_SAMPLE_FRAMES,
        loader: Callable[[], S1Bundle] | None = None,
    ) -> None:
        super().__init__(
            info=s1_engine_info(device), name="S1-mini", max_batch=max_batch, max_queue=max_queue, compile=compile
        )
        self.max_new_tokens = max_new_tokens
        self._voice_dir = voice_dir
        self._windows = (first_window, window)
        self._voice_sample_frames = voice_sample_frames
        self._loader = loader or (lambda: load_s1(model, device, dtype))

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> S1Runner:
        options: dict[str, object] = {
            "model": settings.s1_model,
            "device": settings.device.value,
            "dtype": settings.s1_dtype,
            "max_batch": settings.s1_max_batch,
            "max_queue": settings.max_queue,
            "compile": settings.s1_compile,
            "max_new_tokens": settings.s1_max_new_tokens,
            "voice_dir": settings.data_dir / VOICES_FOLDER,
        }
        return cls(**{**options, **overrides})  # type: ignore[arg-type]

    @property
    def stats(self) -> S1Stats | None:
        """Step counter, batch sizes and per-request traces; None until loaded. Read-only from outside."""
        return self._engine.stats if self._engine is not None else None

    def voices(self) -> Sequence[VoiceInfo]:
        return builtin_voices()

    def has_voice(self, name: str) -> bool:
        return is_seed_voice(name)

    # --- the engine's own parts ----------------------------------------------------------------------------

    def _new_job(self, request: SynthesisRequest, emit: Emit) -> S1Job:
        from tts_server.engines.s1.jobs import S1Job

        return S1Job(request, emit)

    def _build_engine(self) -> S1Engine:
        from tts_server.engines.s1.engine import S1Engine

        first, window = self._windows
        engine = S1Engine(
            self._loader(),
            max_batch=self.max_batch,
            max_new_tokens=self.max_new_tokens,
            first_window=first,
            window=window,
            voice_dir=self._voice_dir,
            voice_sample_frames=self._voice_sample_frames,
            compile_step=self._compile,
        )
        return engine
