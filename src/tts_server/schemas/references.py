"""Wire models of the S1-mini view of the voice library: /v1/references."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tts_server.store.models import StoredVoice, TranscriptSource, VoiceSource


class ReferenceEntry(BaseModel):
    """A reference voice. `id` and `voice_id` are the same name: use it as `voice` in speech requests."""

    id: str
    voice_id: str
    text: str = Field(description="Transcript of the reference audio; empty when there is none.")
    transcript_source: TranscriptSource
    duration: float = Field(description="Seconds.")
    sample_rate: int
    file_size: int = Field(description="Bytes of the stored (normalised) WAV.")
    file_path: str = Field(description="Relative to the data dir.")
    source: VoiceSource = Field(description="How the voice entered the library.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, voice: StoredVoice) -> ReferenceEntry:
        return cls(
            id=voice.voice_id,
            voice_id=voice.voice_id,
            text=voice.transcript or "",
            transcript_source=voice.transcript_source,
            duration=round(voice.duration, 3),
            sample_rate=voice.sample_rate,
            file_size=voice.file_size,
            file_path=voice.file_path,
            source=voice.source,
            created_at=voice.created_at,
            updated_at=voice.updated_at,
        )


class ReferenceList(BaseModel):
    references: list[ReferenceEntry]


class ReferenceAdded(ReferenceEntry):
    message: str
    replaced: bool = Field(description="An earlier voice of this id was replaced (overwrite=true).")
    warning: str | None = Field(None, description="Why the voice has no transcript, when one was wanted.")


class ReferenceDeleted(BaseModel):
    message: str
    id: str
