"""Wyoming's synthesis requests, spoken by the same SpeechService as every HTTP route: same engines, same voice
resolution, same checks. Audio comes back as raw 16-bit mono PCM at the engine's own rate, cut into chunks of
the size Wyoming servers send (wyoming-piper's 1,024 samples), as it is made."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from tts_server.audio.text import has_speaker_tags
from tts_server.errors import InvalidRequest
from tts_server.runtime.ops.metrics import Metrics, Outcome
from tts_server.runtime.runners.registry import EngineRegistry
from tts_server.runtime.speech import SpeechOptions, SpeechService, SpeechStream
from tts_server.wyoming_server.catalogue import SPEAKERS, parse_voice_name

SAMPLE_WIDTH = 2  # bytes: s16le
CHANNELS = 1
SAMPLES_PER_CHUNK = 1024


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """The `voice` of a synthesize / synthesize-start event: a name from `describe`, a language, a speaker."""

    name: str | None = None
    language: str | None = None
    speaker: str | None = None

    @classmethod
    def from_event_data(cls, data: dict[str, Any]) -> VoiceRequest:
        """Read leniently, as the wyoming package writes it; a speaker is honoured even without a name."""
        voice = data.get("voice") or {}
        if not isinstance(voice, dict):
            raise InvalidRequest("'voice' must be an object with name, language and/or speaker.", param="voice")
        fields = {key: voice.get(key) for key in ("name", "language", "speaker")}
        if any(value is not None and not isinstance(value, str) for value in fields.values()):
            raise InvalidRequest("voice name, language and speaker must be strings.", param="voice")
        return cls(**fields)


@dataclass(slots=True)
class PcmAudio:
    """An admitted synthesis: its rate, then PCM chunks as they are made."""

    rate: int
    engine_id: str
    stream: SpeechStream

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """Whole-sample PCM chunks of SAMPLES_PER_CHUNK samples (the last one shorter)."""
        size = SAMPLES_PER_CHUNK * SAMPLE_WIDTH * CHANNELS
        pending = b""
        source = self.stream.chunks()
        assert isinstance(source, AsyncGenerator)
        # Closed here, not whenever it is collected: closing it is what cancels the engine's work.
        async with contextlib.aclosing(source):
            async for data in source:
                pending += data
                whole = len(pending) - len(pending) % size
                for start in range(0, whole, size):
                    yield pending[start : start + size]
                pending = pending[whole:]
        if pending:
            yield pending[: len(pending) - len(pending) % SAMPLE_WIDTH]


class WyomingSpeech:
    """Opens PCM syntheses for Wyoming requests and counts them in the server's metrics."""

    def __init__(self, speech: SpeechService, engines: EngineRegistry, metrics: Metrics, *, max_chars: int) -> None:
        self._speech = speech
        self._engines = engines
        self._metrics = metrics
        self.max_chars = max_chars

    async def open(self, text: str, voice: VoiceRequest, rate: int | None = None) -> PcmAudio:
        """Admit `text` in `voice` (ServiceError when it cannot be spoken: unknown voice or engine, empty or too
        long text, queue full). `rate`: a stream's later sentences keep the rate of its first."""
        target = parse_voice_name(voice.name)
        runner = self._engines.get(target.model, param="voice")
        options = SpeechOptions(
            text=_with_speaker(text, voice.speaker, speaks_dialogue=runner.info.capabilities.speaker_tags),
            voice=target.voice,
            model=target.model,
            response_format="pcm",
            sample_rate=rate or runner.info.sample_rate,  # the engine's own rate: nothing to resample
            language=voice.language,
            text_param="text",
        )
        stream = await self._speech.open_stream(options)
        return PcmAudio(stream.encoder.output_rate, stream.result.engine_id, stream)

    @contextlib.asynccontextmanager
    async def counted(self, audio: PcmAudio) -> AsyncIterator[PcmAudio]:
        """Records the synthesis in /stats and /metrics as it ends: finished, failed or abandoned."""
        started = time.perf_counter()
        outcome = Outcome.FAILURE
        try:
            yield audio
            outcome = Outcome.SUCCESS
        except BaseException as exc:
            outcome = Outcome.FAILURE if isinstance(exc, Exception) else Outcome.CANCELLED
            raise
        finally:
            seconds = time.perf_counter() - started if outcome is Outcome.SUCCESS else None
            audio_seconds = audio.stream.result.audio_seconds if outcome is Outcome.SUCCESS else None
            self._metrics.record_generation(audio.engine_id, outcome, seconds, audio_seconds)


def _with_speaker(text: str, speaker: str | None, *, speaks_dialogue: bool) -> str:
    """A speaker from `describe` (S1, S2) opens the text with its tag, unless the text already has tags."""
    if speaker is None or not speaker.strip():
        return text
    tag = speaker.strip().upper()
    if not speaks_dialogue or tag not in SPEAKERS:
        offered = f"speakers {' and '.join(SPEAKERS)}" if speaks_dialogue else "no speakers"
        raise InvalidRequest(f"Unknown speaker '{speaker}': this voice has {offered}.", param="speaker")
    return text if has_speaker_tags(text) else f"[{tag}] {text}"
