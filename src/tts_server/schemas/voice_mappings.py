"""Wire models of the Dia server's voice mappings (/voice_mappings, also under /v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tts_server.store.models import VoiceMapping

SpeakerField = Literal["S1", "S2"]


class VoiceMappingFields(BaseModel):
    """A mapping as GET /voice_mappings shows it, keyed by its voice_id."""

    style: str = Field(description="Free-form style name, e.g. neutral, conversational, seed_based.")
    primary_speaker: SpeakerField = Field(description="Dia speaker tag the voice speaks as.")
    audio_prompt: str | None = Field(description="Audio prompt the voice clones; null for seed-based voices.")
    audio_prompt_transcript: str | None = Field(description="Overrides the prompt's own transcript.")
    voice_seed: int | None = Field(description="Seed that fixes a seed-based voice's timbre (Dia).")
    broken: bool = Field(False, description="The audio prompt no longer exists; speech with this voice fails.")

    @classmethod
    def of(cls, mapping: VoiceMapping) -> VoiceMappingFields:
        return cls(**_fields(mapping))


class VoiceMappingEntry(VoiceMappingFields):
    """A mapping as GET /v1/voice_mappings lists it (an array element)."""

    voice_id: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, mapping: VoiceMapping) -> VoiceMappingEntry:
        return cls(
            voice_id=mapping.voice_id, created_at=mapping.created_at, updated_at=mapping.updated_at, **_fields(mapping)
        )


class VoiceMappingUpdate(BaseModel):
    """PUT body: the fields to change; the others keep their values."""

    model_config = ConfigDict(extra="ignore")

    style: str | None = None
    primary_speaker: SpeakerField | None = None
    audio_prompt: str | None = Field(None, description="An audio prompt id; null or empty makes it seed-based.")
    audio_prompt_transcript: str | None = None
    voice_seed: int | None = None


class VoiceMappingCreate(VoiceMappingUpdate):
    """POST body: creates the mapping, or replaces every field of an existing one."""

    voice_id: str = Field(description="1-64 letters, digits, '_' or '-'. Usable as `voice` / `voice_id`.")
    primary_speaker: SpeakerField | None = Field(None, description="S1 (default) or S2.")


class VoiceMappingSaved(BaseModel):
    message: str
    voice_id: str
    mapping: VoiceMappingEntry


class VoiceMappingDeleted(BaseModel):
    message: str
    voice_id: str


def _fields(mapping: VoiceMapping) -> dict[str, object]:
    return {
        "style": mapping.style,
        "primary_speaker": mapping.primary_speaker,
        "audio_prompt": mapping.audio_prompt,
        "audio_prompt_transcript": mapping.audio_prompt_transcript,
        "voice_seed": mapping.voice_seed,
        "broken": mapping.broken,
    }
