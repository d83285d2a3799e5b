"""Discovery: audio files dropped into audio_prompts/ by hand become voices.

A file `<id>.<ext>` (wav, mp3, ogg, opus, flac, m4a, aac, webm) is imported when no voice `<id>` exists,
or when it is newer than the voice and its content is neither the stored WAV nor the original the voice
was made from. A same-named `.txt` is its transcript (source 'file'); without one, `transcribe` is asked
(source 'whisper_auto'). A manual transcript is kept unless `force_retranscribe`. Files with invalid
names or unusable audio are skipped and reported; nothing here raises for a bad file.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tts_server.errors import ServiceError, VoiceChangedMeanwhile
from tts_server.store.ids import is_valid_voice_id
from tts_server.store.models import (
    DiscoveryResult,
    SkippedFile,
    StoredVoice,
    Transcriber,
    TranscriptSource,
    VoiceSource,
)
from tts_server.store.voice_files import AUDIO_EXTENSIONS

if TYPE_CHECKING:
    from tts_server.store.voices import VoiceLibrary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Candidate:
    path: Path
    mtime: float
    size: int


@dataclass(frozen=True, slots=True)
class _Scan:
    groups: dict[str, list[_Candidate]]  # lower-case id -> its audio files
    skipped: list[SkippedFile]


async def discover_voices(
    library: VoiceLibrary, *, force_retranscribe: bool, transcribe: Transcriber | None
) -> DiscoveryResult:
    known = {voice.voice_id.lower(): voice for voice in await library.list()}
    scan = await asyncio.to_thread(_scan, library.audio_dir)
    discovered: list[StoredVoice] = []
    skipped = list(scan.skipped)
    for key, candidates in sorted(scan.groups.items()):
        try:
            voice = await _discover_one(library, candidates, known.get(key), force_retranscribe, transcribe)
        except VoiceChangedMeanwhile:
            # `known` is from when the scan began: an upload (or a delete) landed since and won; its files
            # are its own, not discovered ones.
            continue
        except (ServiceError, OSError) as exc:
            name = max(candidates, key=lambda c: c.mtime).path.name
            skipped.append(SkippedFile(name, exc.message if isinstance(exc, ServiceError) else str(exc)))
            continue
        if voice is not None:
            discovered.append(voice)
    removed = [voice.voice_id for key, voice in known.items() if key not in scan.groups]
    removed = [voice_id for voice_id in removed if await library.drop_if_audio_missing(voice_id)]
    total = len(await library.list())
    return DiscoveryResult(tuple(discovered), tuple(skipped), tuple(removed), total)


def _scan(directory: Path) -> _Scan:
    groups: dict[str, list[_Candidate]] = {}
    skipped: list[SkippedFile] = []
    for path in sorted(directory.iterdir()):
        extension = path.suffix[1:].lower()
        if path.name.startswith(".") or extension not in AUDIO_EXTENSIONS or not path.is_file():
            continue
        if not is_valid_voice_id(path.stem):
            reason = "the name is not a valid voice id (letters, digits, '_', '-')"
            skipped.append(SkippedFile(_printable(path.name), reason))
            continue
        stat = path.stat()
        groups.setdefault(path.stem.lower(), []).append(_Candidate(path, stat.st_mtime, stat.st_size))
    return _Scan(groups, skipped)


async def _discover_one(
    library: VoiceLibrary,
    candidates: list[_Candidate],
    current: StoredVoice | None,
    force: bool,
    transcribe: Transcriber | None,
) -> StoredVoice | None:
    """Import or update one voice from its files; the voice when anything changed, else None."""
    changed = await asyncio.to_thread(_changed_file, library, candidates, current)
    stem = current.voice_id if current else max(candidates, key=lambda c: c.mtime).path.stem
    text_file = await asyncio.to_thread(_read_transcript, library.audio_dir / f"{stem}.txt")
    retranscribe = force and transcribe is not None
    if changed is not None:
        voice = await _import(library, changed, current, text_file, force)
    else:
        assert current is not None  # a new voice always has a file to import
        voice = current
        if text_file is not None and _takes_text_file(current, text_file, force) and not retranscribe:
            voice = await library.set_transcript(current.voice_id, text_file, TranscriptSource.FILE)
    if transcribe is not None and (force or voice.transcript is None):
        voice = await _transcribe(library, voice, transcribe)
    return voice if voice != current else None


def _takes_text_file(current: StoredVoice, text_file: str, force: bool) -> bool:
    """A `.txt` edited by hand replaces the transcript, except a manual one (unless forced)."""
    if text_file == current.transcript:
        return False
    return force or current.transcript_source is not TranscriptSource.MANUAL


async def _import(
    library: VoiceLibrary, file: _Candidate, current: StoredVoice | None, text_file: str | None, force: bool
) -> StoredVoice:
    library.check_size(file.size)  # before reading a huge file into memory
    data = await asyncio.to_thread(file.path.read_bytes)
    if current is not None and current.transcript_source is TranscriptSource.MANUAL and not force:
        text, source = current.transcript, TranscriptSource.MANUAL
    else:
        text, source = text_file, TranscriptSource.FILE
    added = await library.add(
        file.path.stem,
        data,
        transcript=text,
        transcript_source=source,
        overwrite=True,
        source=VoiceSource.DISCOVERED,
        source_filename=file.path.name,
        replacing=current,  # unless someone else wrote the voice since we looked
    )
    return added.voice


async def _transcribe(library: VoiceLibrary, voice: StoredVoice, transcribe: Transcriber) -> StoredVoice:
    try:
        text = await transcribe(library.audio_path(voice))
    except Exception:  # a failing recogniser must not stop the scan; the voice stays usable
        log.exception("Could not transcribe voice '%s'", voice.voice_id)
        return voice
    if not text or not text.strip():
        return voice
    return await library.set_transcript(voice.voice_id, text, TranscriptSource.WHISPER_AUTO)


def _changed_file(
    library: VoiceLibrary, candidates: list[_Candidate], current: StoredVoice | None
) -> _Candidate | None:
    """The file to import: the newest, for a new voice (or one whose WAV is gone); else the newest
    file changed since the voice was last written whose content the voice does not already hold."""
    newest_first = sorted(candidates, key=lambda c: c.mtime, reverse=True)
    if current is None or not library.audio_path(current).is_file():
        return newest_first[0]
    known = {current.content_hash, current.source_hash}
    since = current.updated_at.timestamp()
    for candidate in newest_first:
        if candidate.mtime > since and _sha256(candidate.path) not in known:
            return candidate
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _printable(name: str) -> str:
    """A file name as text any response can carry: bytes that are not UTF-8 (which Python keeps as unpaired
    surrogates, and no JSON encoder takes) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_transcript(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return text or None
