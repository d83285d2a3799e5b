"""Whisper as the server uses it: status, loading, transcripts of stored voices, uploaded audio.

`TranscriptService` wraps the one `WhisperService` of the process. It decodes audio to the 16 kHz mono
floats Whisper takes (in a worker thread, with PyAV: no ffmpeg program), and it is the voice library's
automatic transcriber (`transcriber()`, looked up at each use). Whether uploads are transcribed
automatically is read from the live settings, so PUT /config's auto_transcribe applies at once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tts_server.asr.formats import RESPONSE_FORMATS, ResponseFormat
from tts_server.asr.transcription import Transcription
from tts_server.asr.whisper import SAMPLE_RATE, AsrState, WhisperService, WhisperUnavailable
from tts_server.audio.decode import AudioDecodeError, decode_audio
from tts_server.errors import AudioProcessingError, Conflict, InvalidFormat, InvalidModel, InvalidRequest
from tts_server.runtime.voice_service import VoiceService
from tts_server.schemas.config import WHISPER_SIZES
from tts_server.settings import Settings
from tts_server.store.models import StoredVoice, Transcriber, TranscriptSource

MAX_TRANSCRIPTION_SECONDS = 3600
"""Longest audio POST /v1/audio/transcriptions accepts. Decoding stops there, so a well-compressed upload
within the size limit cannot hold more than an hour of samples (~0.7 GB at 48 kHz while decoding)."""

OPENAI_MODEL = "whisper-1"


class TranscriptService:
    """The server's Whisper: one model, loaded on demand or by `load`, one transcription at a time.

    `configured_model` returns the model the configuration names now (PUT /config's
    whisper_model_size); `load()` without a model switches to it.
    """

    def __init__(self, whisper: WhisperService, settings: Settings, configured_model: Callable[[], str]) -> None:
        self.whisper = whisper
        self._settings = settings
        self._configured_model = configured_model

    @classmethod
    def from_settings(cls, settings: Settings, configured_model: Callable[[], str] | None = None) -> TranscriptService:
        """Built from TTS_WHISPER_MODEL and TTS_WHISPER_DEVICE; nothing is imported or loaded yet."""
        whisper = WhisperService(settings.whisper_model, settings.whisper_device)
        return cls(whisper, settings, configured_model or (lambda: settings.whisper_model))

    @property
    def auto_transcribe(self) -> bool:
        """Voices that arrive without a transcript are transcribed (live: PUT /config changes it)."""
        return self._settings.auto_transcribe

    @property
    def model_loaded(self) -> bool:
        return self.whisper.state is AsrState.READY

    def transcriber(self) -> Transcriber | None:
        """The voice library's automatic transcriber; None when openai-whisper is not installed. A model
        that cannot be loaded still gives one: it raises WhisperUnavailable, which explains the problem."""
        return self.transcribe_file if self.whisper.available else None

    async def load(self, model: str | None = None) -> str:
        """Load `model` (default: the configured one), replacing another; returns the model's name.

        An unknown size name or a missing file given here is refused (400) before anything changes;
        the configured model is tried as it is (a missing file: 503 WHISPER_NOT_AVAILABLE)."""
        if model is not None and self.whisper.available:
            await asyncio.to_thread(_check_model_exists, model)
        name = model or self._configured_model()
        await self.whisper.load(name)
        return name

    async def close(self) -> None:
        await self.whisper.close()

    # --- transcription ----------------------------------------------------------------------------

    async def transcribe_file(self, path: Path) -> str:
        """The transcript of an audio file (a stored voice's WAV); "" when Whisper heard no words."""
        samples = await asyncio.to_thread(_decode_file, path)
        return (await self.whisper.transcribe(samples)).text

    async def transcribe_upload(
        self, data: bytes, *, language: str | None = None, prompt: str | None = None, temperature: float = 0.0
    ) -> Transcription:
        """Transcribe uploaded audio in any supported container; AudioProcessingError (400) when it
        cannot be decoded, WhisperUnavailable (503) when Whisper cannot be used."""
        if not self.whisper.available:  # the install hint, before any decoding work
            raise WhisperUnavailable(self.whisper.error or "Whisper is not installed.")
        samples = await asyncio.to_thread(_decode_upload, data)
        return await self.whisper.transcribe(samples, language=language or None, prompt=prompt, temperature=temperature)

    async def transcribe_voice(self, voices: VoiceService, voice_id: str) -> tuple[StoredVoice, str]:
        """Transcribe a stored voice and keep the transcript (database and `<id>.txt`, source
        whisper_auto), replacing any other. Returns the voice and what was heard; when that is nothing
        the stored transcript is left alone. NotFound (404), WhisperUnavailable (503)."""
        voice = await voices.get_voice(voice_id)
        text = await self.transcribe_file(voices.library.audio_path(voice))
        if not text.strip():
            return voice, ""
        current = await voices.get_voice(voice.voice_id)
        if current.content_hash != voice.content_hash:
            raise Conflict(f"The audio of '{voice.voice_id}' was replaced while it was being transcribed; try again.")
        stored = await voices.library.set_transcript(voice.voice_id, text, TranscriptSource.WHISPER_AUTO)
        return stored, text

    def check_model(self, model: str) -> None:
        """OpenAI's `model` field: whisper-1, a Whisper size or the configured model; the loaded model
        answers whichever is named. InvalidModel (400) otherwise."""
        if model in (OPENAI_MODEL, self.whisper.model_name, self._configured_model()) or model in WHISPER_SIZES:
            return
        raise InvalidModel(
            f"Unknown transcription model '{model}'. Use '{OPENAI_MODEL}' or a Whisper size; the server "
            f"transcribes with its loaded model ({self.whisper.model_name}).",
            param="model",
        )


def parse_response_format(value: str) -> ResponseFormat:
    """OpenAI's response_format, checked before any work is done; InvalidFormat (400) otherwise."""
    for fmt in RESPONSE_FORMATS:
        if value == fmt:
            return fmt
    raise InvalidFormat(
        f"Unsupported response_format '{value}'. Use one of: {', '.join(RESPONSE_FORMATS)}.", param="response_format"
    )


def _check_model_exists(model: str) -> None:
    if model in WHISPER_SIZES or os.path.isfile(os.path.expanduser(model)):
        return
    raise InvalidRequest(
        f"Whisper model '{model}' is neither a size name ({', '.join(sorted(WHISPER_SIZES))}) "
        "nor an existing checkpoint file.",
        param="model_size",
    )


def _decode_file(path: Path) -> NDArray[np.float32]:
    return _decode(path.read_bytes(), max_seconds=None)


def _decode_upload(data: bytes) -> NDArray[np.float32]:
    return _decode(data, max_seconds=MAX_TRANSCRIPTION_SECONDS)


def _decode(data: bytes, *, max_seconds: float | None) -> NDArray[np.float32]:
    try:
        decoded = decode_audio(data, target_rate=SAMPLE_RATE, max_seconds=max_seconds)
    except AudioDecodeError as exc:
        raise AudioProcessingError(f"Could not process the audio: {exc}.", param="file") from exc
    samples: NDArray[Any] = decoded.samples
    return samples.astype(np.float32, copy=False)
