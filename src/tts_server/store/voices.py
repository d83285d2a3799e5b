"""The voice library: reference voices (S1 'references', Dia 'audio_prompts') in one store.

A voice is `audio_prompts/<id>.wav` (mono PCM16, decoded and normalised once, at upload), its transcript
`audio_prompts/<id>.txt`, and a row in the database. Every change runs through `_publish`, which swaps
the files with an undo record (voice_swaps.py, voice_files.py) and commits the row as the last step, so a
crash or a failed write leaves either the old voice or the new one, complete.

Ids are compared without regard to case (as macOS and Windows file systems do): 'Anna' and 'anna' are
one voice, kept under the spelling it was first stored with.

Writes of one id are serialised by a lock that the worker thread holds for the whole swap, so a
cancelled request cannot release it while its files are still moving.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from tts_server.audio.decode import AudioDecodeError, decode_audio, is_silent
from tts_server.audio.encode import AudioFormat, encode_audio
from tts_server.engines.base import ReferenceAudio
from tts_server.errors import (
    AudioProcessingError,
    Conflict,
    PayloadTooLarge,
    VoiceChangedMeanwhile,
    VoiceNotFound,
)
from tts_server.store.database import Database
from tts_server.store.discovery import discover_voices
from tts_server.store.ids import KnownIds, is_valid_voice_id, validate_voice_id
from tts_server.store.models import (
    AddedVoice,
    DiscoveryResult,
    StoredVoice,
    Transcriber,
    TranscriptSource,
    VoiceSource,
    utc_now,
)
from tts_server.store.voice_files import AUDIO_EXTENSIONS, FileSwap, VoiceFiles
from tts_server.store.voice_rows import (
    select_voice,
    select_voice_ids,
    select_voices,
)
from tts_server.store.voice_swaps import Decide, VoiceSwaps, not_found

__all__ = [
    "AUDIO_DIR",
    "AddedVoice",
    "StoredVoice",
    "Transcriber",
    "TranscriptSource",
    "VoiceLibrary",
    "VoiceSource",
]

log = logging.getLogger(__name__)

AUDIO_DIR = "audio_prompts"
MAX_STORED_RATE = 44_100  # Dia's codec rate; higher rates are resampled once, at upload
MIN_SECONDS = 1.0
_WAV_HEADER_BYTES = 44


class Unchecked(Enum):
    """`add(replacing=UNCHECKED)`: replace whatever is stored (with `overwrite`)."""

    UNCHECKED = "unchecked"


UNCHECKED = Unchecked.UNCHECKED


class VoiceLibrary:
    """Reference voices on disk and in the database. Construct in a worker thread (`open`)."""

    def __init__(self, data_dir: Path, db: Database, *, max_upload_bytes: int, max_seconds: float) -> None:
        self.data_dir = data_dir
        self.audio_dir = data_dir / AUDIO_DIR
        self.max_upload_bytes = max_upload_bytes
        self.max_seconds = max_seconds
        self._db = db
        self._files = VoiceFiles(self.audio_dir)
        self._swaps = VoiceSwaps(db, self._files)
        self._discovery_lock = asyncio.Lock()
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self._swaps.recover()
        self._ids = KnownIds(db.run_sync(select_voice_ids))
        self.on_written: Callable[[str], None] = _ignore  # told each id a write may have created

    @classmethod
    async def open(cls, data_dir: Path, db: Database, *, max_upload_bytes: int, max_seconds: float) -> VoiceLibrary:
        """Build the library (schema, directory, crash recovery) off the event loop."""
        return await asyncio.to_thread(cls, data_dir, db, max_upload_bytes=max_upload_bytes, max_seconds=max_seconds)

    # --- reading ------------------------------------------------------------------------------

    async def get(self, voice_id: str) -> StoredVoice | None:
        """The voice with this id (any case), or None. Invalid ids are simply not found."""
        if not is_valid_voice_id(voice_id):
            return None
        return await self._db.run(lambda conn: select_voice(conn, voice_id))

    async def list(self) -> builtins.list[StoredVoice]:
        return await self._db.run(select_voices)

    def may_exist(self, voice_id: str) -> bool:
        """False when no voice has this id; answered from memory (see KnownIds)."""
        return self._ids.may_exist(voice_id)

    def learned(self, voice_id: str) -> None:
        """Another replica wrote this id: it may exist now (its row is read at the next use)."""
        self._ids.adding(voice_id)

    async def reload_ids(self) -> None:
        """Learn every id in the database (after notices from other replicas may have been missed)."""
        for voice_id in await self._db.run(select_voice_ids):
            self._ids.adding(voice_id)

    def audio_path(self, voice: StoredVoice) -> Path:
        return self.data_dir / voice.file_path

    async def reference_audio(self, voice_id: str, *, param: str = "voice") -> ReferenceAudio:
        """The voice as an engine needs it; VoiceNotFound (400) when there is no such voice."""
        return await asyncio.to_thread(self._reference_audio, voice_id, param)

    def _reference_audio(self, voice_id: str, param: str) -> ReferenceAudio:
        if not is_valid_voice_id(voice_id):
            raise VoiceNotFound(voice_id, param=param)
        with self._swaps.lock(voice_id):  # never between a file swap and its commit
            self._swaps.settle(voice_id)
            voice = self._db.run_sync(lambda conn: select_voice(conn, voice_id))
            path = self.audio_path(voice) if voice else None
            if voice is None or path is None or not path.is_file():
                raise VoiceNotFound(voice_id, param=param)
        return ReferenceAudio(
            voice_id=voice.voice_id,
            audio_path=path,
            transcript=voice.transcript or "",
            content_hash=voice.content_hash,
            duration=voice.duration,
            sample_rate=voice.sample_rate,
        )

    # --- writing ------------------------------------------------------------------------------

    async def add(
        self,
        voice_id: str,
        audio: bytes,
        *,
        transcript: str | None = None,
        transcript_source: TranscriptSource = TranscriptSource.MANUAL,
        overwrite: bool = False,
        source: VoiceSource = VoiceSource.REFERENCE,
        source_filename: str | None = None,
        param: str = "voice_id",
        replacing: StoredVoice | Unchecked | None = UNCHECKED,
    ) -> AddedVoice:
        """Decode, normalise and store a voice. Conflict (409) when the id exists and not `overwrite`;
        AudioProcessingError (400) / PayloadTooLarge (413) for unusable audio. Nothing is written then.
        With `replacing` (the voice as the caller saw it, None for none), VoiceChangedMeanwhile unless
        the stored voice is still exactly that, checked under the voice's write lock."""
        voice_id = validate_voice_id(voice_id, param)
        self.check_size(len(audio))
        if not overwrite and await self.get(voice_id) is not None:
            raise _conflict(voice_id, param)
        text, text_source = _clean_transcript(transcript, transcript_source)
        new = _NewVoice(voice_id, text, text_source, source, source_filename, overwrite, param, replacing)
        return await asyncio.to_thread(self._add, new, audio)

    async def set_transcript(
        self, voice_id: str, transcript: str | None, source: TranscriptSource = TranscriptSource.MANUAL
    ) -> StoredVoice:
        """Replace the transcript (row and `<id>.txt`); None or blank removes it. NotFound (404)."""
        voice_id = validate_voice_id(voice_id, "voice_id")
        text, text_source = _clean_transcript(transcript, source)

        def write() -> StoredVoice:
            swap = self._stage_transcript(FileSwap(), text)

            def decide(current: StoredVoice | None) -> StoredVoice:
                if current is None:
                    raise not_found(voice_id)
                return replace(current, transcript=text, transcript_source=text_source, updated_at=utc_now())

            stored = self._publish(voice_id, swap, decide)
            assert stored is not None
            return stored

        return await asyncio.to_thread(write)

    async def delete(self, voice_id: str) -> StoredVoice:
        """Delete the voice: its files (every `<id>.*` audio file and the transcript) and its row."""
        voice_id = validate_voice_id(voice_id, "voice_id")

        def remove() -> StoredVoice:
            with self._swaps.lock(voice_id):
                return self._delete_locked(voice_id)

        return await asyncio.to_thread(remove)

    async def drop_if_audio_missing(self, voice_id: str) -> bool:
        """Delete the voice when its WAV was removed by hand; True when it was."""

        def drop() -> bool:
            with self._swaps.lock(voice_id):
                self._swaps.settle(voice_id)
                voice = self._db.run_sync(lambda conn: select_voice(conn, voice_id))
                if voice is None or self.audio_path(voice).is_file():
                    return False
                self._delete_locked(voice_id)
                return True

        return await asyncio.to_thread(drop)

    async def discover(
        self, *, force_retranscribe: bool = False, transcribe: Transcriber | None = None
    ) -> DiscoveryResult:
        """Import audio files dropped into audio_prompts/ by hand (see discovery.py)."""
        async with self._discovery_lock, self._db.lock_async("voice-discovery"):  # one replica at a time
            return await discover_voices(self, force_retranscribe=force_retranscribe, transcribe=transcribe)

    # --- internals ----------------------------------------------------------------------------

    def check_size(self, size: int) -> None:
        """PayloadTooLarge (413) when `size` bytes exceed the upload limit."""
        if size > self.max_upload_bytes:
            limit = self.max_upload_bytes / (1024 * 1024)
            raise PayloadTooLarge(f"The audio is {size / (1024 * 1024):.1f} MB; the limit is {limit:g} MB.")

    def _add(self, new: _NewVoice, audio: bytes) -> AddedVoice:
        swap = FileSwap()
        try:
            wav, rate = self._normalise(audio)
            self._files.stage(swap, "wav", wav)
            self._stage_transcript(swap, new.transcript)
        except BaseException:
            self._files.finish(swap)
            raise
        replaced: builtins.list[bool] = []

        def decide(current: StoredVoice | None) -> StoredVoice:
            if current is not None and not new.overwrite:
                raise _conflict(new.voice_id, new.param)
            if new.replacing is not UNCHECKED and current != new.replacing:
                raise VoiceChangedMeanwhile(f"Voice '{new.voice_id}' changed while it was being replaced.")
            replaced.append(current is not None)
            now = utc_now()
            stem = current.voice_id if current else new.voice_id
            return StoredVoice(
                voice_id=stem,
                file_path=f"{AUDIO_DIR}/{stem}.wav",
                duration=(len(wav) - _WAV_HEADER_BYTES) / 2 / rate,
                sample_rate=rate,
                file_size=len(wav),
                content_hash=hashlib.sha256(wav).hexdigest(),
                source_hash=hashlib.sha256(audio).hexdigest(),
                transcript=new.transcript,
                transcript_source=new.transcript_source,
                source=new.source,
                source_filename=new.source_filename,
                created_at=now,
                updated_at=now,
            )

        stored = self._publish(new.voice_id, swap, decide)
        assert stored is not None
        return AddedVoice(stored, replaced[0])

    def _normalise(self, audio: bytes) -> tuple[bytes, int]:
        """Mono PCM16 WAV at the upload's rate (at most 44.1 kHz), after every check an upload must pass."""
        if not audio:
            raise AudioProcessingError("The audio file is empty.")
        try:
            decoded = decode_audio(audio, max_seconds=self.max_seconds)
        except AudioDecodeError as exc:
            raise AudioProcessingError(f"Unusable audio: {exc}.") from exc
        if decoded.duration < MIN_SECONDS:
            raise AudioProcessingError(
                f"The audio lasts {decoded.duration:.2f} s; a reference voice needs at least {MIN_SECONDS:g} s."
            )
        if decoded.duration > self.max_seconds:
            raise AudioProcessingError(
                f"The audio lasts {decoded.duration:.1f} s; at most {self.max_seconds:g} s are allowed."
            )
        if is_silent(decoded.samples):
            raise AudioProcessingError("The audio is silent.")
        rate = min(decoded.sample_rate, MAX_STORED_RATE)
        return encode_audio(decoded.samples, decoded.sample_rate, AudioFormat.WAV, rate), rate

    def _stage_transcript(self, swap: FileSwap, text: str | None) -> FileSwap:
        if text is None:
            self._files.remove(swap, "txt")
        else:
            self._files.stage(swap, "txt", (text + "\n").encode("utf-8"))
        return swap

    def _delete_locked(self, voice_id: str) -> StoredVoice:
        deleted: builtins.list[StoredVoice] = []
        swap = FileSwap(removed={"wav", "txt"})

        def decide(current: StoredVoice | None) -> None:
            if current is None:
                raise not_found(voice_id)
            deleted.append(current)
            # Hand-dropped originals go too, or discovery would bring the voice back.
            others = AUDIO_EXTENSIONS - {"wav"}
            swap.removed |= {ext for ext in others if self._files.path(current.voice_id, ext).exists()}

        self._publish_locked(voice_id, swap, decide)
        return deleted[0]

    def _publish(self, voice_id: str, swap: FileSwap, decide: Decide) -> StoredVoice | None:
        """Swap the voice's files and row as one change. `decide` sees the current row (inside the
        transaction that records the swap) and returns the new row, None to delete, or raises."""
        with self._swaps.lock(voice_id):
            return self._publish_locked(voice_id, swap, decide)

    def _publish_locked(self, voice_id: str, swap: FileSwap, decide: Decide) -> StoredVoice | None:
        self._ids.adding(voice_id)  # before the row can exist; the caller holds this id's lock
        new = self._swaps.apply(voice_id, swap, decide)
        if new is None:
            self._ids.deleted(voice_id)
        else:
            self.on_written(new.voice_id)
        return new


@dataclass(frozen=True, slots=True)
class _NewVoice:
    """What `add` stores besides the audio."""

    voice_id: str
    transcript: str | None
    transcript_source: TranscriptSource
    source: VoiceSource
    source_filename: str | None
    overwrite: bool
    param: str
    replacing: StoredVoice | Unchecked | None


def _ignore(voice_id: str) -> None:
    pass


def _clean_transcript(text: str | None, source: TranscriptSource) -> tuple[str | None, TranscriptSource]:
    cleaned = text.strip() if text else ""
    if not cleaned:
        return None, TranscriptSource.NONE
    return cleaned, TranscriptSource.MANUAL if source is TranscriptSource.NONE else source


def _conflict(voice_id: str, param: str) -> Conflict:
    return Conflict(f"A voice named '{voice_id}' already exists; delete it first or pass overwrite=true.", param=param)
