"""Wire models of the Dia server's Whisper routes (/whisper/*, /audio_prompts/{id}/transcribe) and of
OpenAI's POST /v1/audio/transcriptions (json and verbose_json bodies)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_server.store.models import TranscriptSource


class WhisperStatus(BaseModel):
    available: bool = Field(description="openai-whisper and its dependencies are installed.")
    model_loaded: bool
    model_size: str = Field(description="The model asked for last: a size name (base, small, ...) or a checkpoint.")
    auto_transcribe: bool = Field(description="Uploads and discovered files without a transcript are transcribed.")
    device: str = Field(description="cpu or cuda; 'auto' until the first load has chosen.")
    state: Literal["unavailable", "not_loaded", "loading", "ready", "failed"]
    error: str | None = Field(None, description="Why Whisper cannot be used (state unavailable or failed).")


class WhisperLoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_size: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description="Size name (tiny, base, small, medium, large-v3, turbo, ...) or checkpoint file to load. "
        "Default: whisper_model_size of GET /config.",
    )


class WhisperLoaded(BaseModel):
    message: str
    model_size: str
    device: str


class PromptTranscribed(BaseModel):
    message: str
    prompt_id: str
    transcript: str = Field(description="Empty when Whisper heard no words; the stored transcript is kept then.")
    transcript_source: TranscriptSource
    saved_to: str | None = Field(description="The transcript file, relative to the data dir; null when not saved.")


class TranscriptionText(BaseModel):
    """response_format=json."""

    text: str


class TranscriptionSegment(BaseModel):
    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


class VerboseTranscription(BaseModel):
    """response_format=verbose_json."""

    task: Literal["transcribe"]
    language: str | None = Field(description="In English, as OpenAI names it: 'english', 'german'.")
    duration: float = Field(description="Seconds of audio.")
    text: str
    segments: list[TranscriptionSegment]
