"""The Dia engine as its worker thread sees it: jobs whose text segments decode as rows of one batch.

A job is one request. Its text is tagged and cut into segments (dia.text); each segment is a row of the
`BatchDecoder`, joining the batch at the next step and leaving when its audio is complete, and the job's next
segment joins after it. Every segment is conditioned on the voice's reference, or a built-in voice's stored
prompt (dia.voice_prompts: made on the voice's first use); a voice with a seed of its own conditions its later
segments on the first segment's audio and text. Audio leaves a row window by window (dia.streaming) as frames
complete, segments are joined with a short crossfade, and everything a job produces goes to its `emit`
callback: AudioChunk, then None at the end, or an exception instead.

Sampling parameters (SamplingParams), per request even within one batch: temperature (default 1.2; 0 is
greedy), top_p (0.95), top_k (45: Dia's CFG filter, the candidates kept from the guided logits), cfg_scale (3.0),
seed (request, else the voice's, else the built-in voice's, else random; segment k of a long text uses seed + k),
max_new_tokens (audio frames per text segment, ~86 per second; default and ceiling: what fits Dia's 3,072-frame
window after the prompt), use_torch_compile (true compiles the decoding step once for the whole process; it
cannot be switched off per request). repetition_penalty does not apply.

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

from tts_server.audio.text import normalize_text
from tts_server.engines.base import (
    AudioChunk,
    CancelToken,
    SamplingParams,
    SynthesisRequest,
    VoiceInfo,
    VoiceSelection,
)
from tts_server.engines.batch_jobs import Emit, as_service_error, decoding_error, synthesize_alone
from tts_server.engines.dia.delay import DelayedGrid
from tts_server.engines.dia.generation import BatchDecoder
from tts_server.engines.dia.jobs import DiaJob, DiaStats, JobTrace, SegmentRow, row_sampling
from tts_server.engines.dia.loading import DiaBundle, dia_engine_info
from tts_server.engines.dia.memory import BatchMemory, plan_batch
from tts_server.engines.dia.streaming import (
    CONTEXT_FRAMES,
    LOOKAHEAD_FRAMES,
    SegmentJoiner,
    StreamingCodec,
    decode_codes,
)
from tts_server.engines.dia.text import TEXT_BYTES, segment_text, tag_text, with_closing_tag
from tts_server.engines.dia.voice_prompts import PROMPT_MAX_SECONDS, PROMPT_TEXT, VoicePrompts, model_fingerprint
from tts_server.engines.dia.voices import BUILTIN_SEEDS, AudioPrompt, ReferencePrompts, builtin_voices
from tts_server.engines.seed_voices import is_seed_voice
from tts_server.engines.torch_device import free_accelerator_memory
from tts_server.errors import GenerationFailed, GpuOutOfMemory
from tts_server.store.dia_prompts import PromptFiles

__all__ = ["DiaEngine", "DiaJob", "DiaStats", "Emit", "JobTrace", "SegmentRow"]

log = logging.getLogger(__name__)

_NAME = "Dia"  # how errors call this engine


class DiaEngine:
    """Continuous batching over one Dia model; owned by one thread."""

    def __init__(
        self,
        bundle: DiaBundle,
        *,
        max_batch: int = 8,
        compile_step: bool = False,
        first_chunk_frames: int = 86,
        chunk_frames: int = 86,
        fade_ms: float = 40.0,
        prompt_cache_size: int = 16,
        voice_prompt_dir: Path | None = None,
        voice_prompt_frames: int | None = None,
        size_batch: bool = False,
    ) -> None:
        """`voice_prompt_dir` keeps the built-in voices' prompts (in a folder per model fingerprint; None: in
        memory only); `voice_prompt_frames` caps their length below the default ~10 s. With `size_batch`,
        `max_batch` is a ceiling: the batch is what the free memory holds (dia.memory; the figures: `memory`)."""
        self.bundle = bundle
        self.info = dia_engine_info(str(bundle.device))
        config = bundle.model.config
        self._delays: list[int] = list(config.delay_pattern)
        self._special = {
            "bos": config.decoder_config.bos_token_id,
            "eos": config.decoder_config.eos_token_id,
            "pad": config.decoder_config.pad_token_id,
        }
        self._tokenizer = bundle.processor.tokenizer
        self.frames_per_second = bundle.sample_rate / bundle.hop_length
        # positions 0..T are BOS + prompt; EOS and the delay tail take max_delay + 1 more
        self._max_frames = config.decoder_config.max_position_embeddings - max(self._delays) - 2
        files = PromptFiles(voice_prompt_dir / model_fingerprint(bundle.model_path)) if voice_prompt_dir else None
        prompt_frames = min(round(PROMPT_MAX_SECONDS * self.frames_per_second), voice_prompt_frames or self._max_frames)
        self.voice_prompts: VoicePrompts[DiaJob] = VoicePrompts(files, max_frames=prompt_frames)
        self.memory: BatchMemory | None = None
        if size_batch:
            window = max(first_chunk_frames, chunk_frames) + CONTEXT_FRAMES + LOOKAHEAD_FRAMES
            self.memory = plan_batch(
                bundle.model, bundle.codec, bundle.device, ceiling=max_batch, prompt_frames=prompt_frames,
                window_frames=window,
            )  # fmt: skip
            max_batch = self.memory.max_batch
        self.max_batch = max_batch
        self.decoder: BatchDecoder[SegmentRow] = BatchDecoder(
            bundle.model, compile_step=compile_step, max_requests=max_batch
        )
        self.prompts = ReferencePrompts(bundle.codec, capacity=prompt_cache_size)
        self.stats = DiaStats()
        self._first_chunk_frames, self._chunk_frames, self._fade_ms = first_chunk_frames, chunk_frames, fade_ms
        self._joining: deque[DiaJob] = deque()

    # --- Engine protocol ----------------------------------------------------------------------------------

    def load(self) -> None:
        """Loaded at construction (`DiaBundle`)."""

    def voices(self) -> Sequence[VoiceInfo]:
        return builtin_voices()

    def has_voice(self, name: str) -> bool:
        return is_seed_voice(name)

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        """One request on its own (the runner batches; this is for scripts and the benchmark)."""
        return synthesize_alone(lambda emit: self.submit(DiaJob(request, emit, cancel)), self.step, _NAME)

    # --- worker API ---------------------------------------------------------------------------------------

    @property
    def active_jobs(self) -> int:
        """Jobs holding a place in the batch: decoding, joining, or waiting for a voice's prompt (the job making
        a prompt takes the place of the first job waiting for it)."""
        return len(self.decoder) + len(self._joining) + self.voice_prompts.waiting - self.voice_prompts.making

    @property
    def free_slots(self) -> int:
        return max(0, self.max_batch - self.active_jobs)

    @property
    def compiled(self) -> bool:
        return self.decoder.compiled

    def submit(self, job: DiaJob) -> None:
        """Take a job; its first segment joins the batch at the next step (after its voice's prompt is made,
        the first time a built-in voice speaks)."""
        job.trace = self.stats.keep(JobTrace(job.request.request_id, submitted_step=self.stats.steps))
        if job.request.sampling.use_torch_compile and not self.decoder.compiled:
            self.decoder.enable_compile()
        voice = self.voice_prompts.voice_of(job.request.voice)
        if voice is not None and self.voice_prompts.get(voice) is None:
            if self.voice_prompts.wait_for(voice, job):
                self.submit(self._voice_prompt_job(voice))
            return
        self._start(job)

    def _start(self, job: DiaJob) -> None:
        try:
            self._plan(job)
        except Exception as exc:
            job.end(as_service_error(exc, _NAME))
            return
        self._joining.append(job)

    def step(self) -> bool:
        """Join waiting segments, run one decoding step for the batch, emit what completed. False when idle."""
        self._join_waiting()
        for row in [row for row in self.decoder.rows if row.job.cancel.cancelled]:
            self.decoder.remove(row)
            row.job.end()
        if not self.decoder.rows:
            return False
        rows = list(self.decoder.rows)
        try:
            sampled = self.decoder.step(np.stack([row.grid.next_input for row in rows]))
        except torch.cuda.OutOfMemoryError:
            self._shed_newest()
            return True
        except Exception as exc:
            log.exception("Dia decoding step failed; failing the %d requests in the batch", len(rows))
            self.fail_all(GenerationFailed(f"Dia generation failed: {exc}"))
            return True
        self.stats.count_step(len(rows))
        for row, tokens in zip(rows, sampled, strict=True):
            row.grid.accept(tokens)
            try:
                self._emit_ready(row, final=row.grid.done)
            except Exception as exc:
                log.exception("Dia audio decoding failed for request %s", row.job.request.request_id)
                self.decoder.remove(row)
                row.job.end(decoding_error(exc, _NAME))
                continue
            if row.grid.done:
                self._finish_row(row)
        return True

    def fail_all(self, error: BaseException) -> None:
        """End every job in the batch or about to join it with `error` (stop, or a broken step)."""
        for row in list(self.decoder.rows):
            self.decoder.remove(row)
            row.job.end(error)
        while self._joining:
            self._joining.popleft().end(error)

    def warm_up(self) -> None:
        """Decode a few steps at every batch bucket of the compiled step (one: eager), so the step is compiled
        and its CUDA graphs are recorded before the first real request."""
        for bucket in self.decoder.buckets or [1]:
            for n in range(bucket):
                sampling = SamplingParams(max_new_tokens=2, seed=n)
                request = SynthesisRequest(text="Warming up.", voice=VoiceSelection("warm-up"), sampling=sampling)
                self.submit(DiaJob(request, lambda item: None))
            while self.step():
                pass

    # --- planning and joining -------------------------------------------------------------------------------

    def _plan(self, job: DiaJob) -> None:
        request, voice = job.request, job.request.voice
        language = voice.language or "en"
        tagged = tag_text(normalize_text(request.text, language), voice.primary_speaker)
        window = self._max_frames / self.frames_per_second
        prompt = job.prompt = self._prompt_for(voice, language)
        prompt_size = None if prompt is None else (len(prompt.transcript.encode()), prompt.seconds)
        job.segments = segment_text(
            tagged, window_seconds=window, prompt=prompt_size, max_chars=request.max_chunk_chars
        )
        builtin_seed = BUILTIN_SEEDS.get(voice.builtin or "")
        seeds = (request.sampling.seed, voice.seed, builtin_seed)
        job.seed = next((seed for seed in seeds if seed is not None), secrets.randbits(31))
        job.joiner = SegmentJoiner(self.bundle.sample_rate, self._fade_ms)
        assert job.trace is not None
        job.trace.segments = len(job.segments)

    def _prompt_for(self, voice: VoiceSelection, language: str) -> AudioPrompt | None:
        """What conditions every segment: a reference voice's audio, or a built-in voice's stored prompt."""
        if voice.reference is not None:
            codes, seconds = self.prompts.codes(voice.reference)
            transcript = voice.reference.transcript
        elif (name := self.voice_prompts.voice_of(voice)) and (stored := self.voice_prompts.get(name)):
            codes, seconds, transcript = stored.codes, len(stored.codes) / self.frames_per_second, stored.text
        else:
            return None
        return AudioPrompt(codes, tag_text(normalize_text(transcript, language), voice.primary_speaker), seconds)

    def _voice_prompt_job(self, voice: str) -> DiaJob:
        """The job that makes a built-in voice's prompt: `PROMPT_TEXT`, the voice's seed, Dia's defaults."""
        request = SynthesisRequest(
            text=PROMPT_TEXT,
            voice=VoiceSelection(f"{voice} (prompt)"),
            sampling=SamplingParams(max_new_tokens=self.voice_prompts.max_frames, seed=BUILTIN_SEEDS[voice]),
            request_id=f"voice-prompt-{voice}",
        )

        def ended(item: AudioChunk | BaseException | None) -> None:
            if isinstance(item, BaseException):
                for job in self.voice_prompts.abandon(voice):
                    job.end(item)

        return DiaJob(request, ended, codes_sink=lambda codes: self._keep_voice_prompt(voice, codes))

    def _keep_voice_prompt(self, voice: str, codes: NDArray[np.int64]) -> None:
        try:
            audio = decode_codes(self.bundle.codec, codes.T)  # the WAV kept beside the codes
            waiting = self.voice_prompts.keep(voice, codes, audio, self.bundle.sample_rate)
        except Exception:  # the waiting jobs still speak, unconditioned, and the next request tries again
            log.exception("Dia could not keep the prompt made for voice '%s'", voice)
            waiting = self.voice_prompts.abandon(voice)
        for job in waiting:
            self._start(job)

    def _join_waiting(self) -> None:
        while self._joining:
            job = self._joining.popleft()
            if job.cancel.cancelled:
                job.end()
                continue
            try:
                self._add_row(job)
            except torch.cuda.OutOfMemoryError:
                free_accelerator_memory()
                job.end(GpuOutOfMemory("The GPU ran out of memory starting this request; try again or shorten it."))
            except Exception as exc:
                log.exception("Dia could not start request %s", job.request.request_id)
                job.end(as_service_error(exc, _NAME))

    def _add_row(self, job: DiaJob) -> None:
        index = job.next_segment
        segment = job.segments[index]
        prompt = job.prompt
        text = with_closing_tag(f"{prompt.transcript} {segment}" if prompt else segment)
        token_ids = self._tokenizer.encode(text, add_special_tokens=False)[:TEXT_BYTES]
        prompt_frames = 0 if prompt is None else len(prompt.codes)
        max_frames = self._max_frames - prompt_frames
        if max_frames < 1:
            raise GenerationFailed("The audio prompt fills Dia's whole window; use a shorter reference.")
        wanted = job.request.sampling.max_new_tokens
        grid = DelayedGrid(
            None if prompt is None else prompt.codes,
            min(max_frames, wanted) if wanted else max_frames,
            self._delays,
            **self._special,
        )
        stream = StreamingCodec(
            self.bundle.codec, first_chunk_frames=self._first_chunk_frames, chunk_frames=self._chunk_frames
        )
        row = SegmentRow(job, index, segment, grid, stream, joined_step=self.stats.steps)
        was_decoding = len(self.decoder) > 0
        self.decoder.add(row, self.decoder.encode(token_ids), grid.prefix, row_sampling(job, index))
        self.stats.count_join(mid_flight=was_decoding)
        assert job.trace is not None
        job.trace.joined_steps.append(self.stats.steps)
        job.trace.prompt_frames.append(prompt_frames)

    # --- output -------------------------------------------------------------------------------------------

    def _emit_ready(self, row: SegmentRow, *, final: bool) -> None:
        piece = row.stream.pull(row.grid, final=final)
        if piece is None:
            return
        job = row.job
        assert job.joiner is not None and job.trace is not None
        audio = job.joiner.feed(piece, segment_ends=final, more_segments=row.index + 1 < len(job.segments))
        job.trace.frames += len(piece) // self.bundle.hop_length
        if len(audio):
            if job.trace.first_audio_step is None:
                job.trace.first_audio_step = self.stats.steps
            job.emit(AudioChunk(audio, self.bundle.sample_rate))

    def _finish_row(self, row: SegmentRow) -> None:
        self.decoder.remove(row)
        job = row.job
        if row.index == 0 and job.codes_sink is not None:
            job.codes_sink(row.grid.new_frames(0, row.grid.ready_frames).T.copy())
        if row.index == 0 and job.prompt is None and len(job.segments) > 1 and row.grid.ready_frames > 0:
            codes = row.grid.new_frames(0, row.grid.ready_frames).T.copy()
            job.prompt = AudioPrompt(codes, row.text, len(codes) / self.frames_per_second)
        job.next_segment += 1
        if job.next_segment < len(job.segments):
            if job.cancel.cancelled:  # stopped early: no tail to flush, and not `finished` in its trace
                job.end()
            else:
                self._joining.append(job)
            return
        assert job.joiner is not None and job.trace is not None
        tail = job.joiner.flush()
        if len(tail):
            job.emit(AudioChunk(tail, self.bundle.sample_rate))
        job.trace.finished_step = self.stats.steps
        job.end()

    def _shed_newest(self) -> None:
        """Out of accelerator memory in a step: the most recently joined request gives way."""
        newest = max(self.decoder.rows, key=lambda row: row.joined_step)
        self.decoder.remove(newest)
        free_accelerator_memory()
        log.warning("GPU out of memory; dropped request %s from the batch", newest.job.request.request_id)
        newest.job.end(GpuOutOfMemory("The GPU ran out of memory for this request; try again or shorten it."))
