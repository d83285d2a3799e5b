"""The voice library as the routers use it: uploads, discovery, transcripts, mappings, start-up scan.

One service behind both API views (S1 references, Dia audio prompts) and the voice mappings. It adds what
the store leaves to the server: automatic transcription of voices that arrive without a transcript (a
failing recogniser never fails an upload: the voice is kept without a transcript and the answer carries a
warning), and the start-up discovery of audio_prompts/ as an owned background task.

Construction does no I/O; `start` opens the library (schema, crash recovery) off the event loop.

Replicas on one database see each other's voices at once: every lookup reads the database, and the
in-memory id indexes that let built-in names skip it learn new ids from the other replicas' notices
(and, for a name nobody here knows, from one look at the database before it is called unknown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypedDict

from tts_server.engines.base import ReferenceAudio
from tts_server.errors import NotFound
from tts_server.runtime.ops.cluster import ClusterBus
from tts_server.runtime.ops.tasks import TaskSupervisor
from tts_server.store.database import Database
from tts_server.store.ids import validate_voice_id
from tts_server.store.mappings import VoiceMappings
from tts_server.store.models import (
    DiscoveryResult,
    StoredVoice,
    Transcriber,
    TranscriptSource,
    VoiceMapping,
    VoiceSource,
)
from tts_server.store.voices import VoiceLibrary

__all__ = ["DiscoveryReport", "MappingChanges", "Transcriber", "UploadOutcome", "VoiceService"]

log = logging.getLogger(__name__)

VOICES_CHANGED = "tts_voices"

TranscriberSource = Callable[[], Transcriber | None]
"""Returns the transcriber to use now (None when there is none); looked up at each use, so Whisper can
arrive, change or go away while the server runs."""


class MappingChanges(TypedDict, total=False):
    """The fields of a voice mapping that a partial update sets; absent keys keep their values."""

    style: str | None
    primary_speaker: str | None
    audio_prompt: str | None
    audio_prompt_transcript: str | None
    voice_seed: int | None


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    voice: StoredVoice
    replaced: bool  # an earlier voice of this id was replaced
    warning: str | None = None  # why the voice has no transcript although one was wanted


@dataclass(frozen=True, slots=True)
class DiscoveryReport:
    result: DiscoveryResult
    warnings: list[str] = field(default_factory=list)  # transcriptions that failed during the scan


def _no_transcriber() -> Transcriber | None:
    return None


def _off() -> bool:
    return False


class VoiceService:
    """Reference voices and voice mappings, with automatic transcription and start-up discovery."""

    def __init__(
        self,
        data_dir: Path,
        db: Database,
        *,
        max_upload_bytes: int,
        max_seconds: float,
        transcriber: TranscriberSource = _no_transcriber,
        auto_transcribe: Callable[[], bool] = _off,
        bus: ClusterBus | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.max_upload_bytes = max_upload_bytes
        self._db = db
        self._max_seconds = max_seconds
        self._transcriber = transcriber
        self._auto_transcribe = auto_transcribe
        self._library: VoiceLibrary | None = None
        self._mappings: VoiceMappings | None = None
        self._tasks = TaskSupervisor("voices")
        self._bus = bus
        if bus is not None:
            bus.subscribe(VOICES_CHANGED, self._on_notice)
            bus.on_connect(self._reload_ids)
        self._transcribing: dict[str, asyncio.Lock] = {}  # voice id -> held while it is transcribed at first use

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, discover: bool, transcriber: TranscriberSource | None = None) -> None:
        """Open the library; with `discover`, scan audio_prompts/ in the background (start-up is not held
        up). `transcriber`, when given, replaces the one passed at construction (the app passes a lookup
        of AppState.transcriber, which Whisper sets)."""
        if transcriber is not None:
            self._transcriber = transcriber
        self._library = await VoiceLibrary.open(
            self.data_dir, self._db, max_upload_bytes=self.max_upload_bytes, max_seconds=self._max_seconds
        )
        self._mappings = await asyncio.to_thread(VoiceMappings, self._db)
        loop = asyncio.get_running_loop()
        announce = self._announcer(loop)
        self._library.on_written = announce
        self._mappings.on_written = announce
        if discover:
            self._tasks.spawn("startup-discovery", self._discover_at_start())

    async def stop(self) -> None:
        """Cancel the start-up discovery if it is still running."""
        await self._tasks.stop()

    @property
    def library(self) -> VoiceLibrary:
        if self._library is None:
            raise RuntimeError("VoiceService.start() has not run")
        return self._library

    @property
    def mappings(self) -> VoiceMappings:
        if self._mappings is None:
            raise RuntimeError("VoiceService.start() has not run")
        return self._mappings

    def may_hold(self, voice_id: str) -> bool:
        """False when `voice_id` is neither a stored voice nor a mapping; answered from memory, so
        built-in names resolve without a database round trip."""
        return self.mappings.may_exist(voice_id) or self.library.may_exist(voice_id)

    async def learn(self, voice_id: str) -> bool:
        """Whether a voice or mapping with this id exists, asking the database (another replica may have
        just written it); the in-memory indexes learn it when it does."""
        if self._mappings is None or self._library is None or self._bus is None or not self._bus.shared:
            return False  # alone on its database, this replica's indexes miss nothing
        if await self._mappings.get(voice_id) is not None:
            self._mappings.learned(voice_id)
            return True
        if await self._library.get(voice_id) is not None:
            self._library.learned(voice_id)
            return True
        return False

    # --- other replicas -----------------------------------------------------------------------

    def _announcer(self, loop: asyncio.AbstractEventLoop) -> Callable[[str], None]:
        """Tell the other replicas about a written id; callable from the worker threads that write."""
        bus = self._bus
        if bus is None or not bus.shared:
            return lambda voice_id: None

        def announce(voice_id: str) -> None:
            loop.call_soon_threadsafe(bus.publish, VOICES_CHANGED, {"id": voice_id})

        return announce

    def _on_notice(self, payload: dict[str, object]) -> None:
        voice_id = str(payload.get("id", ""))
        if self._library is not None and self._mappings is not None and voice_id:
            self._library.learned(voice_id)
            self._mappings.learned(voice_id)

    async def _reload_ids(self) -> None:
        if self._library is not None and self._mappings is not None:
            await self._library.reload_ids()
            await self._mappings.reload_ids()

    # --- reference voices ---------------------------------------------------------------------

    async def add_voice(
        self,
        voice_id: str,
        audio: bytes,
        *,
        transcript: str | None,
        overwrite: bool,
        source: VoiceSource,
        source_filename: str | None,
        param: str,
    ) -> UploadOutcome:
        """Store a voice (see VoiceLibrary.add); without a transcript, transcribe it when that is on."""
        added = await self.library.add(
            voice_id,
            audio,
            transcript=transcript,
            overwrite=overwrite,
            source=source,
            source_filename=source_filename,
            param=param,
        )
        if added.voice.transcript is not None or not self._auto_transcribe():
            return UploadOutcome(added.voice, added.replaced)
        voice, warning = await self._transcribe_new(added.voice)
        return UploadOutcome(voice, added.replaced, warning)

    async def get_voice(self, voice_id: str) -> StoredVoice:
        """The voice; InvalidId (400) for a malformed id, NotFound (404) when there is none."""
        voice = await self.library.get(validate_voice_id(voice_id, "voice_id"))
        if voice is None:
            raise NotFound(f"No reference voice or audio prompt named '{voice_id}'.", param="voice_id")
        return voice

    async def voice_audio(self, voice_id: str) -> bytes:
        """The stored WAV of a voice, to listen to; NotFound (404) when there is none, or it was deleted
        while being read."""
        voice = await self.get_voice(voice_id)
        try:
            return await asyncio.to_thread(self.library.audio_path(voice).read_bytes)
        except FileNotFoundError:
            raise NotFound(f"No reference voice or audio prompt named '{voice_id}'.", param="voice_id") from None

    async def set_transcript(self, voice_id: str, transcript: str) -> StoredVoice:
        """A manual transcript (kept until replaced by hand or by a forced re-transcription)."""
        return await self.library.set_transcript(voice_id, transcript, TranscriptSource.MANUAL)

    async def reference_audio(self, voice_id: str, *, param: str) -> ReferenceAudio:
        return await self.library.reference_audio(voice_id, param=param)

    async def with_transcript(self, reference: ReferenceAudio, *, param: str) -> ReferenceAudio:
        """`reference`, transcribed now if it has no transcript and a transcriber (Whisper) is available, for
        engines that clone from the words too. The transcript is stored (source whisper_auto), so this happens
        once per voice: requests that come together wait for one transcription. Without a transcriber, or when
        it fails or hears nothing, `reference` comes back as it is (the engine then says how to add one)."""
        if reference.transcript.strip() or (transcriber := self._transcriber()) is None:
            return reference
        lock = self._transcribing.setdefault(reference.voice_id, asyncio.Lock())
        async with lock:
            current = await self.library.reference_audio(reference.voice_id, param=param)
            if current.content_hash != reference.content_hash or current.transcript.strip():
                return current  # transcribed while we waited (or replaced: take the voice as it is now)
            try:
                text = await transcriber(reference.audio_path)
            except Exception as exc:
                log.warning("Could not transcribe voice '%s' at first use: %s", reference.voice_id, exc)
                return reference
            voice = await self.library.get(reference.voice_id)
            if text and text.strip() and voice is not None:
                stored = await self._store_auto_transcript(voice, text.strip())
                log.info("Transcribed voice '%s' at first use: %r", reference.voice_id, stored.transcript)
                return replace(reference, transcript=stored.transcript or "")
            return reference

    async def discover(self, *, force_retranscribe: bool = False) -> DiscoveryReport:
        """Import hand-dropped files (see store/discovery.py). Voices without a transcript are transcribed
        when auto-transcription is on; `force_retranscribe` re-transcribes every voice, manual ones too."""
        warnings: list[str] = []
        transcriber = self._transcriber()
        wanted = force_retranscribe or self._auto_transcribe()
        transcribe = _recording_failures(transcriber, warnings) if transcriber and wanted else None
        if force_retranscribe and transcriber is None:
            warnings.append("force_retranscribe was asked for, but no transcriber (Whisper) is available.")
        result = await self.library.discover(force_retranscribe=force_retranscribe, transcribe=transcribe)
        return DiscoveryReport(result, warnings)

    # --- voice mappings -----------------------------------------------------------------------

    async def update_mapping(self, voice_id: str, changes: MappingChanges) -> VoiceMapping:
        """Change some fields of an existing mapping (NotFound, 404, when there is none)."""
        current = await self.mappings.get(validate_voice_id(voice_id, "voice_id"))
        if current is None:
            raise NotFound(f"No voice mapping named '{voice_id}'.", param="voice_id")
        return await self.mappings.upsert(
            current.voice_id,
            style=changes.get("style", current.style),
            primary_speaker=changes.get("primary_speaker") or current.primary_speaker,
            audio_prompt=changes.get("audio_prompt", current.audio_prompt),
            audio_prompt_transcript=changes.get("audio_prompt_transcript", current.audio_prompt_transcript),
            voice_seed=changes.get("voice_seed", current.voice_seed),
        )

    # --- internals ----------------------------------------------------------------------------

    async def _transcribe_new(self, voice: StoredVoice) -> tuple[StoredVoice, str | None]:
        transcriber = self._transcriber()
        advice = f"Add one with PUT /audio_prompts/{voice.voice_id}/transcript; cloning works best with one."
        if transcriber is None:
            return voice, f"No transcriber (Whisper) is available, so the voice has no transcript. {advice}"
        try:
            text = await transcriber(self.library.audio_path(voice))
        except Exception as exc:  # a failing recogniser must not fail the upload
            log.warning("Automatic transcription of voice '%s' failed: %s", voice.voice_id, exc)
            return voice, f"Automatic transcription failed ({_brief(exc)}), so the voice has no transcript. {advice}"
        if not text or not text.strip():
            return voice, f"Automatic transcription heard no words, so the voice has no transcript. {advice}"
        return await self._store_auto_transcript(voice, text), None

    async def _store_auto_transcript(self, voice: StoredVoice, text: str) -> StoredVoice:
        current = await self.library.get(voice.voice_id)
        if current is None or current.content_hash != voice.content_hash or current.transcript is not None:
            return current or voice  # replaced, deleted or given a transcript while we listened
        try:
            return await self.library.set_transcript(voice.voice_id, text, TranscriptSource.WHISPER_AUTO)
        except NotFound:
            return voice

    async def _discover_at_start(self) -> None:
        report = await self.discover()
        result = report.result
        log.info(
            "Start-up discovery of audio_prompts/: %d new or changed, %d skipped, %d removed; %d voices",
            len(result.discovered),
            len(result.skipped),
            len(result.removed),
            result.total,
        )
        for skipped in result.skipped:
            log.warning("Skipped audio_prompts/%s: %s", skipped.file_name, skipped.reason)


def _recording_failures(transcriber: Transcriber, warnings: list[str]) -> Transcriber:
    """The transcriber, noting each failure for the discovery report (discovery itself carries on)."""

    async def transcribe(path: Path) -> str | None:
        try:
            return await transcriber(path)
        except Exception as exc:
            warnings.append(f"Could not transcribe '{path.stem}': {_brief(exc)}")
            raise

    return transcribe


def _brief(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
