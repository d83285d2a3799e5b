"""What the stores hand out: frozen records, free of SQL and HTTP (the wire schemas live in schemas/)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from tts_server.engines.base import Speaker


class TranscriptSource(StrEnum):
    """Where a reference voice's transcript came from."""

    MANUAL = "manual"  # given by a client (upload field, PUT .../transcript); never replaced automatically
    FILE = "file"  # read from a hand-dropped `<id>.txt`
    WHISPER_AUTO = "whisper_auto"  # transcribed by the server
    NONE = "none"


class VoiceSource(StrEnum):
    """How a reference voice entered the library (one library behind both API views)."""

    REFERENCE = "reference"  # POST /v1/references/add
    AUDIO_PROMPT = "audio_prompt"  # POST /audio_prompts/upload
    DISCOVERED = "discovered"  # dropped into audio_prompts/ by hand


@dataclass(frozen=True, slots=True)
class StoredVoice:
    """A reference voice: its normalised audio file, transcript and metadata."""

    voice_id: str
    file_path: str  # relative to the data dir, e.g. "audio_prompts/my_voice.wav"
    duration: float  # seconds
    sample_rate: int
    file_size: int  # bytes of the stored WAV
    content_hash: str  # sha256 of the stored WAV; engines cache derived features by it
    source_hash: str  # sha256 of the bytes as uploaded or dropped (discovery uses it to skip known files)
    transcript: str | None
    transcript_source: TranscriptSource
    source: VoiceSource
    source_filename: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AddedVoice:
    """The result of `VoiceLibrary.add`: the stored voice, and whether it replaced an earlier one."""

    voice: StoredVoice
    replaced: bool


Transcriber = Callable[[Path], Awaitable[str | None]]
"""Turns a stored WAV into its transcript (Whisper); None when it heard nothing."""


@dataclass(frozen=True, slots=True)
class SkippedFile:
    file_name: str  # relative to audio_prompts/
    reason: str


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    discovered: tuple[StoredVoice, ...]  # voices added or changed by the scan
    skipped: tuple[SkippedFile, ...]  # files that could not become voices, and why
    removed: tuple[str, ...]  # voices whose audio file was deleted by hand; their rows are gone now
    total: int  # voices in the library after the scan


@dataclass(frozen=True, slots=True)
class VoiceMapping:
    """A named voice for the Dia surface: a style and speaker, with an audio prompt or a seed."""

    voice_id: str
    style: str
    primary_speaker: Speaker
    audio_prompt: str | None  # id of a voice in the library
    audio_prompt_transcript: str | None
    voice_seed: int | None
    created_at: datetime
    updated_at: datetime
    broken: bool = False  # audio_prompt names a voice that no longer exists


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_db_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def from_db_time(value: str) -> datetime:
    return datetime.fromisoformat(value)
