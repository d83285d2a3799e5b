"""Wire models of the Dia view of the voice library: /audio_prompts (also under /v1)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tts_server.store.models import StoredVoice, TranscriptSource, VoiceSource


class AudioPromptEntry(BaseModel):
    prompt_id: str
    file_path: str = Field(description="Relative to the data dir, e.g. audio_prompts/my_voice.wav.")
    duration: float = Field(description="Seconds.")
    sample_rate: int

    @classmethod
    def of(cls, voice: StoredVoice) -> AudioPromptEntry:
        return cls(**_basics(voice))


class AudioPromptList(BaseModel):
    audio_prompts: list[AudioPromptEntry]


class AudioPromptMetadata(AudioPromptEntry):
    transcript: str = Field(description="Empty when there is none.")
    transcript_source: TranscriptSource
    file_size: int = Field(description="Bytes of the stored (normalised) WAV.")
    content_hash: str = Field(description="SHA-256 of the stored WAV.")
    source: VoiceSource = Field(description="How the prompt entered the library.")
    source_filename: str | None = None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, voice: StoredVoice) -> AudioPromptMetadata:
        return cls(
            **_basics(voice),
            transcript=voice.transcript or "",
            transcript_source=voice.transcript_source,
            file_size=voice.file_size,
            content_hash=voice.content_hash,
            source=voice.source,
            source_filename=voice.source_filename,
            created_at=voice.created_at,
            updated_at=voice.updated_at,
        )


class AudioPromptMetadataList(BaseModel):
    audio_prompts: list[AudioPromptMetadata]


class AudioPromptUploaded(BaseModel):
    message: str
    prompt_id: str
    file_path: str
    duration: float
    sample_rate: int
    transcript: str = Field(description="Empty when there is none (see `warning`).")
    transcript_source: TranscriptSource
    replaced: bool = Field(description="An earlier prompt of this id was replaced, atomically.")
    warning: str | None = Field(None, description="Why the prompt has no transcript, when one was wanted.")


class AudioPromptDeleted(BaseModel):
    message: str
    prompt_id: str


class DiscoverRequest(BaseModel):
    force_retranscribe: bool = Field(False, description="Transcribe every prompt again, manual transcripts too.")


class DiscoveredPrompt(BaseModel):
    prompt_id: str
    file_path: str
    transcript: str
    transcript_source: TranscriptSource


class SkippedPromptFile(BaseModel):
    file_name: str = Field(description="Relative to audio_prompts/.")
    reason: str


class DiscoverResponse(BaseModel):
    message: str
    total_prompts: int
    discovered: list[DiscoveredPrompt] = Field(description="Prompts added or changed by this scan.")
    skipped: list[SkippedPromptFile] = Field(description="Files that could not become prompts, and why.")
    removed: list[str] = Field(description="Prompts whose audio file was deleted by hand; they are gone now.")
    warnings: list[str] = Field(default_factory=list, description="Transcriptions that failed.")


class TranscriptUpdate(BaseModel):
    transcript: str = Field(description="The words spoken in the prompt; empty removes the transcript.")


class TranscriptUpdated(BaseModel):
    message: str
    prompt_id: str
    transcript: str
    transcript_source: TranscriptSource
    saved_to: str = Field(description="The transcript file, relative to the data dir.")


def _basics(voice: StoredVoice) -> dict[str, object]:
    return {
        "prompt_id": voice.voice_id,
        "file_path": voice.file_path,
        "duration": round(voice.duration, 3),
        "sample_rate": voice.sample_rate,
    }
