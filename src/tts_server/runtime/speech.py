"""Speech requests from every API family end here: validate, resolve, synthesise, encode.

Everything that can be refused (model, voice, text, format, admission) is checked in `open_stream`
before the first byte is sent, so a streamed response never starts and then turns into an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from tts_server.audio.effects import StreamingTimeStretch
from tts_server.audio.encode import AudioFormat, StreamEncoder, output_sample_rate, whole_wav
from tts_server.audio.samples import to_float32
from tts_server.audio.text import strip_performance_tags
from tts_server.engines.base import AudioChunk, SamplingParams, Speaker, SynthesisRequest, VoiceSelection
from tts_server.errors import InvalidFormat, InvalidRequest, TextTooLong
from tts_server.runtime.runners.base import EngineRunner
from tts_server.runtime.runners.registry import EngineRegistry, ensure_ready
from tts_server.runtime.voices import VoiceResolver

# Encoding wav/pcm is a memory copy; the compressed codecs do real work and leave the event loop.
_INLINE_FORMATS = frozenset({AudioFormat.WAV, AudioFormat.PCM})


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    """A speech request as any API family phrases it, before validation."""

    text: str
    voice: str | None
    model: str | None = None
    response_format: str = "wav"
    speed: float = 1.0
    sample_rate: int | None = None
    language: str | None = None
    instructions: str | None = None
    role: str | None = None
    voice_seed: int | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    max_chunk_chars: int | None = None
    voice_param: str = "voice"
    text_param: str = "input"


@dataclass(slots=True)
class SpeechResult:
    """What a finished synthesis reports, for stats and usage."""

    engine_id: str
    audio_seconds: float = 0.0
    progress: float | None = None  # the engine's own estimate (0-1), when it reports one
    started_at: float = field(default_factory=time.perf_counter)
    finished_at: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished_at or time.perf_counter()) - self.started_at


@dataclass(slots=True)
class SpeechStream:
    """An admitted request: iterate `chunks()` for encoded bytes; `result` fills in as it goes."""

    encoder: StreamEncoder
    result: SpeechResult
    _chunks: AsyncIterator[AudioChunk]
    _first: AudioChunk | None
    _encoding: asyncio.Future[bytes] | None = None  # an encode running in a worker thread

    @property
    def media_type(self) -> str:
        return self.encoder.media_type

    async def chunks(self) -> AsyncIterator[bytes]:
        """Encoded audio as it is made. Closing this iterator early cancels the synthesis."""
        try:
            async for chunk in self._audio():
                data = await self._encode(chunk)
                if data:
                    yield data
            tail = self.encoder.finish()
            if tail:
                yield tail
            self.result.finished_at = time.perf_counter()
        finally:
            self._close_encoder_when_idle()
            await _close(self._chunks)

    async def read_all(self) -> bytes:
        """The whole clip; a WAV's header states its real sizes (a stream's cannot know them)."""
        parts = [part async for part in self.chunks()]
        return whole_wav(parts) if self.encoder.format is AudioFormat.WAV else b"".join(parts)

    async def _audio(self) -> AsyncIterator[AudioChunk]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        async for chunk in self._chunks:
            yield chunk

    async def _encode(self, chunk: AudioChunk) -> bytes:
        self.result.audio_seconds += chunk.duration
        if chunk.progress is not None:
            self.result.progress = chunk.progress
        if self.encoder.format in _INLINE_FORMATS:
            return self.encoder.encode(chunk.samples)
        # Shielded: a client that leaves cancels this await, but not the thread, which still holds the codec.
        self._encoding = asyncio.ensure_future(asyncio.to_thread(self.encoder.encode, chunk.samples))
        return await asyncio.shield(self._encoding)

    def _close_encoder_when_idle(self) -> None:
        """Closing the codec while a worker thread is still encoding with it crashes libavformat, so an
        abandoned stream closes it once that thread is done."""
        pending = self._encoding
        if pending is None or pending.done():
            self.encoder.close()
            return

        def close_after(finished: asyncio.Future[bytes]) -> None:
            if not finished.cancelled():
                finished.exception()  # retrieved: the stream was abandoned, nobody else will look
            self.encoder.close()

        pending.add_done_callback(close_after)


class SpeechService:
    def __init__(self, engines: EngineRegistry, voices: VoiceResolver, *, max_input_chars: int) -> None:
        self._engines = engines
        self._voices = voices
        self._max_input_chars = max_input_chars

    async def open_stream(self, options: SpeechOptions) -> SpeechStream:
        """Validate and admit a request, and wait for its first audio chunk."""
        fmt = parse_format(options.response_format)
        text = self._checked_text(options)
        candidates = self._engines.candidates(options.model)
        runner, voice = await self._voices.route(
            options.voice, candidates, language=options.language, param=options.voice_param
        )
        ensure_ready(runner)
        voice = self._customised(voice, options, runner)
        request = SynthesisRequest(
            text=self._prepare_text(text, runner),
            voice=voice,
            speed=options.speed,
            sampling=options.sampling,
            instructions=options.instructions,
            request_id=secrets.token_hex(16),
            max_chunk_chars=options.max_chunk_chars,
        )
        chunks = self._adjust_speed(runner, runner.synthesize(request), options.speed)
        first = await _first_chunk(chunks)
        encoder = _make_encoder(fmt, first, options.sample_rate)
        return SpeechStream(encoder, SpeechResult(engine_id=runner.info.id), chunks, first)

    @staticmethod
    def _customised(voice: VoiceSelection, options: SpeechOptions, runner: EngineRunner) -> VoiceSelection:
        if options.voice_seed is not None:
            voice = replace(voice, seed=options.voice_seed)
        if runner.info.capabilities.speaker_tags:
            voice = replace(voice, primary_speaker=speaker_for_role(options.role, voice.primary_speaker))
        return voice

    def _checked_text(self, options: SpeechOptions) -> str:
        text = options.text
        if not text or not text.strip():
            raise InvalidRequest("Text to synthesise is empty.", param=options.text_param)
        if len(text) > self._max_input_chars:
            raise TextTooLong(
                f"Text is {len(text)} characters long; the limit is {self._max_input_chars}.",
                param=options.text_param,
            )
        return text

    @staticmethod
    def _prepare_text(text: str, runner: EngineRunner) -> str:
        """Engines normalise text themselves, chunk by chunk in their workers: normalising a 4,000-character
        input here would cost tens of milliseconds on the event loop before the first sentence is spoken."""
        if not runner.info.capabilities.speaker_tags:
            text = strip_performance_tags(text)
        if not text.strip():
            raise InvalidRequest("Text has nothing to say once speaker and sound tags are removed.", param="input")
        return text

    @staticmethod
    def _adjust_speed(
        runner: EngineRunner, chunks: AsyncIterator[AudioChunk], speed: float
    ) -> AsyncIterator[AudioChunk]:
        if runner.info.capabilities.native_speed or speed == 1.0:
            return chunks
        return _stretched(chunks, speed)


def parse_format(value: str) -> AudioFormat:
    try:
        return AudioFormat(value.strip().lower())
    except ValueError:
        accepted = ", ".join(f.value for f in AudioFormat)
        raise InvalidFormat(
            f"Unknown response_format '{value}'. Accepted: {accepted}.", param="response_format"
        ) from None


def speaker_for_role(role: str | None, default: Speaker) -> Speaker:
    """The Dia spec's `role`: a user's line is spoken by S2, everything else by the voice's own speaker."""
    return "S2" if role == "user" else default


def _make_encoder(fmt: AudioFormat, first: AudioChunk, requested_rate: int | None) -> StreamEncoder:
    try:
        rate = output_sample_rate(fmt, first.sample_rate, requested_rate)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="sample_rate") from None
    return StreamEncoder(fmt, first.sample_rate, rate)


async def _first_chunk(chunks: AsyncIterator[AudioChunk]) -> AudioChunk:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        raise InvalidRequest("The engine produced no audio for this text.", param="input") from None
    except BaseException:
        await _close(chunks)
        raise


async def _stretched(chunks: AsyncIterator[AudioChunk], speed: float) -> AsyncIterator[AudioChunk]:
    """Pitch-preserving tempo change for engines without a native speed, one stretcher per stream."""
    stretcher: StreamingTimeStretch | None = None
    rate = 0
    try:
        async for chunk in chunks:
            if stretcher is None:
                stretcher, rate = StreamingTimeStretch(chunk.sample_rate, speed), chunk.sample_rate
            samples = await asyncio.to_thread(stretcher.push, to_float32(chunk.samples))
            if len(samples):
                yield AudioChunk(samples, rate, progress=chunk.progress)
        if stretcher is not None:
            tail = await asyncio.to_thread(stretcher.finish)
            if len(tail):
                yield AudioChunk(tail, rate, progress=1.0)
    finally:
        await _close(chunks)


async def _close(chunks: AsyncIterator[AudioChunk]) -> None:
    close: Callable[[], object] | None = getattr(chunks, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            result = close()
            if asyncio.iscoroutine(result):
                await result
