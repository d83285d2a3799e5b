"""DiaRunner: the async face of the Dia engine, with continuous batching.

One worker thread loads Dia, then owns it: it is the only thread that touches torch. Requests become jobs in a
bounded waiting list; between decoding steps the worker moves waiting jobs into the running batch (up to
`max_batch`), so a request that arrives mid-generation starts at the next step instead of waiting for the
batch to finish. Audio reaches the event loop through one asyncio queue per request; closing the iterator
(client gone) cancels the job, and the worker drops its row at the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tts_server.engines.base import AudioChunk, EngineLoadError, SynthesisRequest, VoiceInfo
from tts_server.engines.dia_loading import DiaBundle, dia_engine_info, load_dia
from tts_server.engines.dia_voices import BUILTIN_SEEDS, builtin_voices
from tts_server.errors import ModelNotLoaded, QueueFull
from tts_server.runtime.runner import RunnerLoad, RunnerState
from tts_server.store.dia_prompts import PROMPTS_DIR

if TYPE_CHECKING:
    from tts_server.engines.dia import DiaEngine, DiaJob, DiaStats
    from tts_server.settings import Settings

log = logging.getLogger(__name__)

_IDLE_WAIT_S = 0.5  # the worker re-checks for stop this often when idle
_STOP_JOIN_S = 10.0

Item = AudioChunk | BaseException | None


class DiaRunner:
    """Serves Dia to the async side. Constructor arguments mirror the TTS_DIA_* settings (`from_settings`);
    `loader` replaces `load_dia` (tests, benchmarks); the chunk sizes are in codec frames (~86 per second).
    `max_new_tokens` (TTS_DIA_MAX_NEW_TOKENS) caps the frames of each text segment: the default for requests
    that name no limit, the ceiling for those that do; None lets a segment fill the model's window."""

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
        self.info = dia_engine_info(device)
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._compile = compile
        self.max_new_tokens = max_new_tokens
        self._chunk_frames = (first_chunk_frames, chunk_frames)
        # built-in voices' stored prompts (None: kept in memory), and their length (None: the engine's ~10 s,
        # or max_new_tokens when that is less)
        self._voice_prompts = (voice_prompt_dir, voice_prompt_frames or max_new_tokens)
        self._loader = loader or (lambda: load_dia(model, codec, device, dtype))
        self._state = RunnerState.STOPPED
        self._detail: str | None = "not started"
        self._engine: DiaEngine | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._waiting: deque[DiaJob] = deque()
        self._admitted: set[DiaJob] = set()  # waiting or in the batch, until its consumer lets go
        self._stopping = False

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

    # --- EngineRunner -------------------------------------------------------------------------------------

    @property
    def state(self) -> RunnerState:
        return self._state

    @property
    def state_detail(self) -> str | None:
        return self._detail

    @property
    def stats(self) -> DiaStats | None:
        """Step counter, batch sizes and per-request traces; None until loaded. Read-only from outside."""
        return self._engine.stats if self._engine is not None else None

    def load(self) -> RunnerLoad:
        with self._lock:
            waiting = len(self._waiting)
            return RunnerLoad(
                workers=1,
                active=len(self._admitted) - waiting,
                waiting=waiting,
                capacity=self.max_batch + self.max_queue,
            )

    async def start(self) -> None:
        if self._thread is not None:
            return
        self._state, self._detail = RunnerState.LOADING, "loading Dia weights"
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="dia-worker", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, _STOP_JOIN_S)
            if thread.is_alive():
                log.warning("the Dia worker is still busy (loading?); leaving it to exit on its own")
        self._state, self._detail = RunnerState.STOPPED, "stopped"

    def voices(self) -> Sequence[VoiceInfo]:
        return builtin_voices()

    def has_voice(self, name: str) -> bool:
        return name.strip().lower() in BUILTIN_SEEDS

    def synthesize(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        """Admission is checked now (ModelNotLoaded, QueueFull) and again when iteration starts."""
        with self._lock:
            self._check_admission()
        return self._stream(self._within_frame_cap(request))

    # --- the async side -------------------------------------------------------------------------------------

    def _within_frame_cap(self, request: SynthesisRequest) -> SynthesisRequest:
        cap, wanted = self.max_new_tokens, request.sampling.max_new_tokens
        if cap is None or (wanted is not None and wanted <= cap):
            return request
        return replace(request, sampling=replace(request.sampling, max_new_tokens=cap))

    def _check_admission(self) -> None:
        if self._state is not RunnerState.READY:
            raise ModelNotLoaded(f"Model 'dia' is not ready: {self._detail or self._state.value}")
        if len(self._admitted) >= self.max_batch + self.max_queue:
            raise QueueFull(f"Dia is busy: {self.max_batch} requests decoding and {self.max_queue} waiting.")

    async def _stream(self, request: SynthesisRequest) -> AsyncGenerator[AudioChunk, None]:
        from tts_server.engines.dia import DiaJob

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Item] = asyncio.Queue()
        job = DiaJob(request, lambda item: _deliver(loop, queue, item))
        with self._lock:
            self._check_admission()
            self._admitted.add(job)
            self._waiting.append(job)
            self._lock.notify_all()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancel.cancel()  # a no-op for a finished job; stops the row of an abandoned one
            with self._lock:
                self._admitted.discard(job)
                if job in self._waiting:
                    self._waiting.remove(job)

    # --- the worker thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        engine = self._load_engine()
        if engine is None:
            return
        try:
            while self._next_round(engine):
                engine.step()
        except Exception as exc:  # a bug, not a request's failure: say so in /health
            log.exception("the Dia worker stopped")
            self._state, self._detail = RunnerState.FAILED, f"the Dia worker stopped: {exc}"
            engine.fail_all(ModelNotLoaded(self._detail))
        finally:
            engine.fail_all(ModelNotLoaded("The server is stopping."))
            self._fail_waiting(ModelNotLoaded("The server is stopping."))

    def _load_engine(self) -> DiaEngine | None:
        try:
            from tts_server.engines.dia import DiaEngine

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
            if self._compile:
                self._detail = "compiling and warming up the Dia decoder"
                engine.warm_up()
        except ImportError as exc:
            detail = f"Dia needs the 'dia' extra (pip install 'tts-server[dia]'): {exc}"
            log.error(detail)
            self._state, self._detail = RunnerState.FAILED, detail
            return None
        except EngineLoadError as exc:
            log.error("Dia is not available: %s", exc)
            self._state, self._detail = RunnerState.FAILED, str(exc)
            return None
        except Exception as exc:
            log.exception("Dia failed to load")
            self._state, self._detail = RunnerState.FAILED, f"Dia failed to load: {exc}"
            return None
        if self._stopping:
            return None
        self._engine = engine
        self.info = replace(self.info, device=str(engine.bundle.device))
        self._state, self._detail = RunnerState.READY, None
        return engine

    def _next_round(self, engine: DiaEngine) -> bool:
        """Move waiting jobs into the engine while it has room; sleep when there is nothing to do."""
        with self._lock:
            while not self._stopping and engine.active_jobs == 0 and not self._waiting:
                self._lock.wait(_IDLE_WAIT_S)
            if self._stopping:
                return False
            joining = [self._waiting.popleft() for _ in range(min(engine.free_slots, len(self._waiting)))]
        for job in joining:
            engine.submit(job)
        return True

    def _fail_waiting(self, error: BaseException) -> None:
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
        for job in waiting:
            job.end(error)


def _deliver(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Item], item: Item) -> None:
    """From the worker thread into the request's queue; a closed loop means nobody is listening."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(queue.put_nowait, item)
