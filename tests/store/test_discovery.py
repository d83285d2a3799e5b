"""Discovery of audio files dropped into audio_prompts/ by hand."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import OpenStore, read_wav, sha256, voice_wav
from tests.support.signals import harmonic_tone
from tts_server.audio.encode import AudioFormat, encode_audio
from tts_server.store.models import AddedVoice, StoredVoice, TranscriptSource, VoiceSource
from tts_server.store.voices import VoiceLibrary


class FakeWhisper:
    """Records what it was asked to transcribe; answers with a fixed text."""

    def __init__(self, text: str | None = "recognised words") -> None:
        self.text = text
        self.calls: list[Path] = []

    async def __call__(self, path: Path) -> str | None:
        assert path.read_bytes()[:4] == b"RIFF", "transcribe gets the normalised WAV"
        self.calls.append(path)
        return self.text


def drop(library: VoiceLibrary, name: str, data: bytes | str) -> Path:
    path = library.audio_dir / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def later(path: Path, seconds: float = 5.0) -> None:
    """Make a hand-dropped file look newer than everything the library wrote."""
    stamp = time.time() + seconds
    os.utime(path, (stamp, stamp))


async def test_hand_dropped_files_become_voices(library: VoiceLibrary, data_dir: Path) -> None:
    anna_upload = voice_wav(rate=48_000, channels=2)
    drop(library, "anna.wav", anna_upload)
    drop(library, "anna.txt", "  Hello, I am Anna.\n")
    mp3 = encode_audio(harmonic_tone(180, 2.0, 24_000), 24_000, AudioFormat.MP3)
    drop(library, "Bert.mp3", mp3)
    drop(library, "bad.name.wav", voice_wav())
    drop(library, "has space.wav", voice_wav())
    drop(library, "junk.wav", b"not audio at all" * 100)
    drop(library, "short.ogg", encode_audio(harmonic_tone(180, 0.4, 48_000), 48_000, AudioFormat.OPUS))
    drop(library, "notes.txt", "a transcript with no audio")
    drop(library, "readme.md", "ignored")
    drop(library, ".hidden.wav", voice_wav())
    whisper = FakeWhisper()

    result = await library.discover(transcribe=whisper)

    by_id = {voice.voice_id: voice for voice in result.discovered}
    assert sorted(by_id) == ["Bert", "anna"]
    anna = by_id["anna"]
    assert (anna.transcript, anna.transcript_source) == ("Hello, I am Anna.", TranscriptSource.FILE)
    assert anna.source is VoiceSource.DISCOVERED
    assert (anna.source_hash, anna.source_filename) == (sha256(anna_upload), "anna.wav")
    assert read_wav(data_dir / anna.file_path)[:3] == (1, 2, 44_100)  # normalised in place
    bert = by_id["Bert"]
    assert (bert.transcript, bert.transcript_source) == ("recognised words", TranscriptSource.WHISPER_AUTO)
    assert bert.file_path == "audio_prompts/Bert.wav"
    assert bert.source_filename == "Bert.mp3"
    assert whisper.calls == [data_dir / "audio_prompts/Bert.wav"]
    assert (data_dir / "audio_prompts/Bert.txt").read_text(encoding="utf-8") == "recognised words\n"

    skipped = {item.file_name: item.reason for item in result.skipped}
    assert sorted(skipped) == ["bad.name.wav", "has space.wav", "junk.wav", "short.ogg"]
    assert "not a valid voice id" in skipped["bad.name.wav"]
    assert "not a supported audio file" in skipped["junk.wav"]
    assert "at least 1 s" in skipped["short.ogg"]
    assert result.total == 2
    assert result.removed == ()

    again = await library.discover(transcribe=whisper)
    assert again.discovered == ()
    assert again.total == 2
    assert len(whisper.calls) == 1


async def test_discovered_voices_survive_a_restart(open_store: OpenStore) -> None:
    db, library, _ = open_store()
    drop(library, "kept.flac", encode_audio(harmonic_tone(150, 1.5, 24_000), 24_000, AudioFormat.FLAC))
    found = (await library.discover()).discovered
    assert [voice.voice_id for voice in found] == ["kept"]
    assert found[0].transcript_source is TranscriptSource.NONE
    db.close()
    _, restarted, _ = open_store()
    assert await restarted.list() == list(found)
    assert (await restarted.discover()).discovered == ()


async def test_a_replaced_file_is_imported_again(library: VoiceLibrary) -> None:
    drop(library, "v.txt", "first take")
    drop(library, "v.wav", voice_wav(f0=120))
    first = (await library.discover()).discovered[0]

    later(drop(library, "v.wav", voice_wav(f0=240)))
    later(drop(library, "v.txt", "second take"))
    second = (await library.discover()).discovered
    assert [voice.transcript for voice in second] == ["second take"]
    assert second[0].content_hash != first.content_hash


async def test_an_edited_txt_updates_the_transcript(library: VoiceLibrary) -> None:
    drop(library, "v.wav", voice_wav())
    await library.discover()
    drop(library, "v.txt", "typed in later")
    (voice,) = (await library.discover()).discovered
    assert (voice.transcript, voice.transcript_source) == ("typed in later", TranscriptSource.FILE)


async def test_manual_transcripts_are_kept_unless_forced(library: VoiceLibrary) -> None:
    await library.add("v", voice_wav(), transcript="typed by the user")
    drop(library, "v.txt", "something else")
    whisper = FakeWhisper("what whisper heard")

    assert (await library.discover(transcribe=whisper)).discovered == ()
    voice = await library.get("v")
    assert voice is not None
    assert (voice.transcript, voice.transcript_source) == ("typed by the user", TranscriptSource.MANUAL)
    assert whisper.calls == []

    later(drop(library, "v.wav", voice_wav(f0=333)))  # new audio by hand: the manual text still stays
    (changed,) = (await library.discover(transcribe=whisper)).discovered
    assert (changed.transcript, changed.transcript_source) == ("typed by the user", TranscriptSource.MANUAL)

    (forced,) = (await library.discover(force_retranscribe=True, transcribe=whisper)).discovered
    assert (forced.transcript, forced.transcript_source) == ("what whisper heard", TranscriptSource.WHISPER_AUTO)


async def test_a_failing_transcriber_does_not_stop_the_scan(library: VoiceLibrary) -> None:
    async def broken(path: Path) -> str | None:
        raise RuntimeError("model not loaded")

    drop(library, "a.wav", voice_wav())
    drop(library, "b.wav", voice_wav(f0=200))
    result = await library.discover(transcribe=broken)
    assert [(v.voice_id, v.transcript) for v in result.discovered] == [("a", None), ("b", None)]


async def test_voices_deleted_by_hand_are_removed_and_deleted_ones_stay_gone(library: VoiceLibrary) -> None:
    await library.add("by_hand", voice_wav())
    drop(library, "orig.mp3", encode_audio(harmonic_tone(150, 1.5, 24_000), 24_000, AudioFormat.MP3))
    await library.discover()
    (library.audio_dir / "by_hand.wav").unlink()

    result = await library.discover()
    assert result.removed == ("by_hand",)
    assert await library.get("by_hand") is None

    await library.delete("orig")  # takes the hand-dropped original with it
    assert sorted(p.name for p in library.audio_dir.iterdir()) == []
    assert (await library.discover()).total == 0


async def test_oversized_files_are_skipped_without_reading_them(library: VoiceLibrary) -> None:
    drop(library, "huge.wav", b"\0" * (library.max_upload_bytes + 1))
    result = await library.discover()
    assert [(s.file_name, "limit" in s.reason) for s in result.skipped] == [("huge.wav", True)]


@pytest.mark.parametrize("force", [False, True])
async def test_without_a_transcriber_voices_have_no_transcript(library: VoiceLibrary, force: bool) -> None:
    drop(library, "quiet.wav", voice_wav())
    (voice,) = (await library.discover(force_retranscribe=force)).discovered
    assert (voice.transcript, voice.transcript_source) == (None, TranscriptSource.NONE)


async def test_an_upload_that_lands_during_a_scan_stays_an_upload(
    library: VoiceLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's list of voices is older than the upload: the import is checked against the stored voice."""
    stale = await library.list()
    uploaded = (await library.add("anna", voice_wav(), transcript="Hi.")).voice

    async def list_before_the_upload() -> list[StoredVoice]:
        monkeypatch.undo()  # only the scan's first look is stale
        return stale

    monkeypatch.setattr(library, "list", list_before_the_upload)
    result = await library.discover()
    assert result.discovered == () and result.skipped == ()
    assert await library.get("anna") == uploaded


async def test_an_upload_that_lands_between_look_and_write_wins(
    library: VoiceLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery decides to import a file as a new voice; an upload of that id lands before it writes.
    The write is checked against what discovery saw, under the voice's lock, so the upload stays whole."""
    drop(library, "anna.wav", voice_wav(f0=220.0))
    real_add = library.add

    async def upload_lands_first(voice_id: str, audio: bytes, **kwargs: Any) -> AddedVoice:
        if kwargs.get("source") is VoiceSource.DISCOVERED:  # discovery's write, decided on what it saw
            await real_add("anna", voice_wav(f0=110.0), overwrite=True, transcript="Uploaded.")
        return await real_add(voice_id, audio, **kwargs)

    monkeypatch.setattr(library, "add", upload_lands_first)
    result = await library.discover()
    monkeypatch.undo()
    assert result.discovered == () and result.skipped == ()
    anna = await library.get("anna")
    assert anna is not None and anna.source is VoiceSource.REFERENCE and anna.transcript == "Uploaded."
    assert sha256(library.audio_path(anna).read_bytes()) == anna.content_hash
