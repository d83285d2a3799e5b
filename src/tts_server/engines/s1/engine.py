"""The S1-mini engine as its worker thread sees it: jobs whose text chunks decode as rows of one batch.

A job is one request. Its text is cut into chunks (text.py); each chunk is a row of the `BatchGenerator`,
joining the batch at the next step and leaving when it says <|im_end|> or reaches its frame cap; the job's next
chunk joins after it. Every chunk continues the same voice prompt: the reference's words and codes, or a
named voice's kept sample (made by a row of its own the first time the voice is used, then kept). Audio
leaves each row window by window as frames arrive (streaming.py; rows whose windows fill together share one
codec batch), chunks are joined with a short crossfade,
and everything a job produces goes to its `emit`: AudioChunk, then None at the end, or an exception.

Sampling parameters are per request (SamplingParams): temperature (default 0.7), top_p (0.8),
repetition_penalty (1.1), max_new_tokens (frames per chunk, ~21.5 per second; default 1024, at most the
engine's cap), seed (the request's, else random; chunk k uses seed + k), use_torch_compile (compiles the
decoding step once for the whole process). top_k and cfg_scale do not apply.

Only the worker thread calls `submit`, `step` and `synthesize`; they are not thread-safe.
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from tts_server.engines.base import (
    AudioChunk,
    CancelToken,
    SamplingParams,
    SynthesisRequest,
    VoiceInfo,
    VoiceSelection,
)
from tts_server.engines.batch_jobs import as_service_error, decoding_error, synthesize_alone
from tts_server.engines.s1.generation import BatchGenerator
from tts_server.engines.s1.jobs import Row, S1Job, S1Stats, SpeechRow, VoiceSampleRow
from tts_server.engines.s1.loading import S1Bundle, s1_engine_info
from tts_server.engines.s1.prompt import build_prompt
from tts_server.engines.s1.sampling import VOICE_SAMPLING, SamplingSettings, sampling_settings
from tts_server.engines.s1.streaming import ChunkJoiner, RowAudio
from tts_server.engines.s1.text import chunk_text
from tts_server.engines.s1.tokenizer import S1Tokenizer
from tts_server.engines.s1.voice_samples import VoiceSamples
from tts_server.engines.s1.voices import (
    VOICE_SAMPLE_FRAMES,
    VOICE_SAMPLE_TEXT,
    KeptVoices,
    ReferencePrompts,
    builtin_voices,
    model_fingerprint,
    seed_of,
)
from tts_server.engines.seed_voices import is_seed_voice
from tts_server.engines.torch_device import free_accelerator_memory
from tts_server.errors import GenerationFailed, GpuOutOfMemory, ServiceError

log = logging.getLogger(__name__)

_NAME = "S1-mini"  # how errors call this engine

DEFAULT_MAX_NEW_TOKENS = 1024


class S1Engine:
    """Continuous batching over one S1-mini model; owned by one thread."""

    def __init__(
        self,
        bundle: S1Bundle,
        *,
        max_batch: int = 8,
        max_new_tokens: int | None = None,
        first_window: int = 10,
        window: int = 43,
        voice_dir: Path | None = None,
        voice_sample_frames: int = VOICE_SAMPLE_FRAMES,
        fade_ms: float = 40.0,
        compile_step: bool = False,
    ) -> None:
        self.bundle = bundle
        self.info = s1_engine_info(str(bundle.device))
        self.max_batch = max_batch
        self.max_new_tokens = max_new_tokens  # cap on frames per chunk (TTS_S1_MAX_NEW_TOKENS)
        self.generator: BatchGenerator[Row] = BatchGenerator(bundle.model, device=bundle.device, dtype=bundle.dtype)
        if compile_step:
            self.generator.enable_compile()
        self.references = ReferencePrompts(bundle.codec)
        self.kept_voices = KeptVoices(voice_dir / model_fingerprint(bundle.path) if voice_dir else None)
        # A named voice's sample is a generation too: the frame cap applies to it
        self._samples = VoiceSamples(self.kept_voices, min(voice_sample_frames, max_new_tokens or voice_sample_frames))
        self.stats = S1Stats()
        self.sample_rate = bundle.codec.sample_rate
        self._windows = (first_window, window)
        self._fade_ms = fade_ms
        self._joining: deque[S1Job] = deque()
        self._jobs: set[S1Job] = set()  # submitted and not yet ended

    # --- Engine protocol ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Loaded at construction (`S1Bundle`)."""

    def voices(self) -> Sequence[VoiceInfo]:
        return builtin_voices()

    def has_voice(self, name: str) -> bool:
        return is_seed_voice(name)

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        """One request on its own (the runner batches; this is for scripts and the benchmark)."""
        return synthesize_alone(lambda emit: self.submit(S1Job(request, emit, cancel)), self.step, _NAME)

    # --- worker API ---------------------------------------------------------------------------------------

    @property
    def active_jobs(self) -> int:
        self._jobs = {job for job in self._jobs if not job.finished}
        return len(self._jobs)

    @property
    def free_slots(self) -> int:
        return max(0, self.max_batch - self.active_jobs)

    @property
    def compiled(self) -> bool:
        return self.generator.compiled

    def submit(self, job: S1Job) -> None:
        """Take a job; its first chunk (or its voice's sample) joins the batch at the next step."""
        job.trace = self.stats.trace(job.request.request_id)
        try:
            self._plan(job)
        except Exception as exc:
            job.end(as_service_error(exc, _NAME))
            return
        self._jobs.add(job)
        if job.request.sampling.use_torch_compile and not self.generator.compiled:
            self.generator.enable_compile()
        if job.voice is None and job.voice_seed is not None:
            self._samples.wait(job, job.voice_seed, self.stats.steps)
        else:
            self._joining.append(job)

    def step(self) -> bool:
        """Join waiting rows, decode one frame for the batch, emit what is ready. False when idle."""
        self._join_waiting()
        for row in [row for row in self.generator.rows if row.cancelled]:
            self._drop(row)
        rows = self.generator.rows
        if not rows:
            return False
        try:
            frames = self.generator.step()
        except torch.cuda.OutOfMemoryError:
            self._shed_newest()
            return True
        except Exception as exc:
            log.exception("S1-mini decoding step failed; failing the %d rows in the batch", len(rows))
            self.fail_all(GenerationFailed(f"S1-mini generation failed: {exc}"))
            return True
        self.stats.count_step(len(rows))
        for row, frame in zip(rows, frames, strict=True):
            self._accept(row, frame)
        self._decode_due()
        return True

    def fail_all(self, error: BaseException) -> None:
        """End every job in the batch, joining it or waiting for a voice with `error`."""
        for row in list(self.generator.rows):
            self.generator.remove(row)
        for job in list(self._jobs) + list(self._joining):
            job.end(error)
        self._joining.clear()
        self._samples.clear()
        self._jobs.clear()

    def warm_up(self) -> None:
        """Decode a short request alone, then two together, so the compiled graphs exist before the first real
        request (torch.compile specialises a batch of one; two rows trace the general, shape-dynamic graph).
        They speak in no particular voice: making a named voice's sample belongs to its first real use."""
        for seeds in ((1,), (2, 3)):
            for seed in seeds:
                sampling = SamplingParams(max_new_tokens=16, seed=seed)
                request = SynthesisRequest(text="Warming up.", voice=VoiceSelection("default"), sampling=sampling)
                job = S1Job(request, lambda item: None, chunks=["Warming up."], seed=seed)
                job.joiner = ChunkJoiner(self.sample_rate, self._fade_ms)
                self._jobs.add(job)
                self._joining.append(job)
            while self.step():
                pass

    # --- planning and joining -------------------------------------------------------------------------------

    def _plan(self, job: S1Job) -> None:
        request, voice = job.request, job.request.voice
        job.chunks = chunk_text(request.text, request.max_chunk_chars, voice.language or "en")
        if not job.chunks:
            raise GenerationFailed("The text has nothing to say once normalised.")
        if voice.reference is not None:
            job.voice = self.references.prompt(voice.reference)
        else:
            job.voice_seed = seed_of(voice.builtin, voice.seed)
            job.voice = self.kept_voices.get(job.voice_seed)
        seed = request.sampling.seed
        job.seed = seed if seed is not None else secrets.randbits(31)
        job.joiner = ChunkJoiner(self.sample_rate, self._fade_ms)
        job.trace.chunks = len(job.chunks)

    def _join_waiting(self) -> None:
        for sample in self._samples.to_join():
            prompt = build_prompt(self._tokenizer, VOICE_SAMPLE_TEXT, [], num_codebooks=self._codebooks)
            self._start_row(sample, prompt, VOICE_SAMPLING, sample.seed)
        while self._joining:
            job = self._joining.popleft()
            if job.cancel.cancelled:
                job.end()
                continue
            index = job.next_chunk
            voices = [job.voice] if job.voice is not None else []
            prompt = build_prompt(self._tokenizer, job.chunks[index], voices, num_codebooks=self._codebooks)
            audio = RowAudio(self.bundle.codec, first_window=self._windows[0], window=self._windows[1])
            row = SpeechRow(job, index, audio, self._frame_cap(job.request.sampling), self.stats.steps)
            job.trace.joined_steps.append(self.stats.steps)
            self._start_row(row, prompt, sampling_settings(job.request.sampling), job.seed + index)

    def _start_row(self, row: Row, prompt: NDArray[np.int64], settings: SamplingSettings, seed: int) -> None:
        was_decoding = len(self.generator) > 0
        try:
            first = self.generator.add(row, prompt, settings, seed)
        except torch.cuda.OutOfMemoryError:
            free_accelerator_memory()
            self._fail_row(row, GpuOutOfMemory("The GPU ran out of memory starting this request; try again."))
            return
        except Exception as exc:
            log.exception("S1-mini could not start a row")
            self._fail_row(row, as_service_error(exc, _NAME))
            return
        self.stats.count_join(mid_flight=was_decoding)
        self._accept(row, first)

    # --- frames and audio ---------------------------------------------------------------------------------

    def _accept(self, row: Row, frame: NDArray[np.int64]) -> None:
        """Take a row's new frame: the end, or codes to keep (voice sample) or to decode (speech)."""
        if int(frame[0]) == self._tokenizer.im_end_id:
            self._finish(row)
            return
        codes = frame[1:]
        if isinstance(row, VoiceSampleRow):
            row.codes.append(codes)
            produced = len(row.codes)
        else:
            row.audio.add(codes)
            produced = row.audio.frames
        if produced >= row.max_frames or self.generator.positions_left(row) <= 0:
            self._finish(row)

    def _decode_due(self) -> None:
        """Audio for every row whose window is full; rows holding as many frames decode in one batch."""
        due = [row for row in self.generator.rows if isinstance(row, SpeechRow) and row.audio.due]
        if not due:
            return
        try:
            pieces = RowAudio.decode_together([row.audio for row in due])
        except Exception as exc:
            error = _decoding_error(exc)
            for row in due:
                self._fail_row(row, error)
            return
        for row, audio in zip(due, pieces, strict=True):
            self._emit(row, audio, chunk_ends=False)

    def _emit(self, row: SpeechRow, audio: NDArray[np.float32], *, chunk_ends: bool) -> None:
        job = row.job
        assert job.joiner is not None
        samples = job.joiner.feed(audio, chunk_ends=chunk_ends)
        if chunk_ends and row.index + 1 == len(job.chunks):
            samples = np.concatenate([samples, job.joiner.flush()])
        if len(samples):
            if job.trace.first_audio_step is None:
                job.trace.first_audio_step = self.stats.steps
            progress = (row.index + (1.0 if chunk_ends else 0.5)) / len(job.chunks)
            job.emit(AudioChunk(samples, self.sample_rate, progress=progress))

    def _finish(self, row: Row) -> None:
        if row in self.generator.rows:
            self.generator.remove(row)
        if isinstance(row, VoiceSampleRow):
            self._voice_ready(row)
            return
        job = row.job
        try:
            self._emit(row, row.audio.pull(final=True), chunk_ends=True)
        except Exception as exc:
            self._fail_row(row, _decoding_error(exc))
            return
        job.trace.frames += row.audio.frames
        job.next_chunk += 1
        if job.next_chunk < len(job.chunks) and not job.cancel.cancelled:
            self._joining.append(job)
            return
        job.trace.finished_step = self.stats.steps
        job.end()

    def _voice_ready(self, sample: VoiceSampleRow) -> None:
        prompt = self._samples.keep(sample)
        if prompt is not None:
            self.stats.voice_samples += 1
        for job in sample.waiting:
            job.voice = prompt
            self._joining.append(job)

    # --- failures -----------------------------------------------------------------------------------------

    def _drop(self, row: Row) -> None:
        """A row nobody waits for any more (its client left)."""
        self.generator.remove(row)
        if isinstance(row, VoiceSampleRow):
            self._samples.forget(row)
            jobs = row.waiting
        else:
            jobs = [row.job]
        for job in jobs:
            job.end()

    def _fail_row(self, row: Row, error: ServiceError) -> None:
        if row in self.generator.rows:
            self.generator.remove(row)
        if isinstance(row, VoiceSampleRow):
            self._samples.forget(row)
            for job in row.waiting:
                job.end(error)
        else:
            row.job.end(error)

    def _shed_newest(self) -> None:
        """Out of accelerator memory in a step: the most recently joined row gives way."""
        newest = max(self.generator.rows, key=lambda row: row.joined_step)
        free_accelerator_memory()
        log.warning("GPU out of memory; dropped the newest row from the S1-mini batch")
        self._fail_row(newest, GpuOutOfMemory("The GPU ran out of memory for this request; try again or shorten it."))

    # --- settings -----------------------------------------------------------------------------------------

    @property
    def _tokenizer(self) -> S1Tokenizer:
        return self.bundle.tokenizer

    @property
    def _codebooks(self) -> int:
        return self.bundle.model.num_codebooks

    def _frame_cap(self, params: SamplingParams) -> int:
        wanted = params.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        return min(wanted, self.max_new_tokens) if self.max_new_tokens else wanted


def _decoding_error(exc: Exception) -> ServiceError:
    error = decoding_error(exc, _NAME)
    if not isinstance(error, GpuOutOfMemory):  # running out of memory is no bug: the job just says so
        log.exception("S1-mini audio decoding failed")
    return error
