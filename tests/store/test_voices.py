"""The voice library's behaviour: round trips, normalisation, and bad input that writes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.store.conftest import (
    MAX_SECONDS,
    OpenStore,
    read_wav,
    sha256,
    snapshot,
    voice_wav,
    wav_bytes,
)
from tests.support.signals import harmonic_tone
from tts_server.audio.encode import AudioFormat, encode_audio
from tts_server.errors import AudioProcessingError, Conflict, InvalidId, NotFound, PayloadTooLarge, VoiceNotFound
from tts_server.store.models import TranscriptSource, VoiceSource
from tts_server.store.voices import VoiceLibrary


async def test_add_get_list_delete_round_trip(library: VoiceLibrary, data_dir: Path) -> None:
    upload = voice_wav(seconds=2.0, rate=24_000)
    added = await library.add("my_voice", upload, transcript="  Hello there.  ", source_filename="me.wav")

    voice = added.voice
    assert not added.replaced
    assert voice.voice_id == "my_voice"
    assert voice.file_path == "audio_prompts/my_voice.wav"
    assert voice.sample_rate == 24_000
    assert voice.duration == pytest.approx(2.0, abs=0.01)
    assert voice.transcript == "Hello there."
    assert voice.transcript_source is TranscriptSource.MANUAL
    assert voice.source is VoiceSource.REFERENCE
    assert voice.source_filename == "me.wav"
    assert voice.source_hash == sha256(upload)
    stored = (data_dir / voice.file_path).read_bytes()
    assert voice.content_hash == sha256(stored)
    assert voice.file_size == len(stored)
    assert read_wav(data_dir / voice.file_path) == (1, 2, 24_000, 48_000)
    assert (data_dir / "audio_prompts/my_voice.txt").read_text(encoding="utf-8") == "Hello there.\n"

    assert await library.get("my_voice") == voice
    assert await library.list() == [voice]

    deleted = await library.delete("my_voice")
    assert deleted == voice
    assert await library.get("my_voice") is None
    assert await library.list() == []
    assert sorted(p.name for p in (data_dir / "audio_prompts").iterdir()) == []


async def test_a_new_database_and_library_on_the_same_dir_keep_everything(open_store: OpenStore) -> None:
    db, library, _ = open_store()
    first = (await library.add("first", voice_wav(), transcript="One.")).voice
    second = (await library.add("second", voice_wav(f0=220), source=VoiceSource.AUDIO_PROMPT)).voice
    db.close()

    _, reopened, _ = open_store()
    assert await reopened.list() == [first, second]
    reference = await reopened.reference_audio("second")
    assert reference.audio_path.read_bytes()[:4] == b"RIFF"
    assert reference.content_hash == second.content_hash


async def test_uploads_are_mixed_to_mono_and_capped_at_44_1_khz(library: VoiceLibrary, data_dir: Path) -> None:
    voice = (await library.add("stereo48", voice_wav(seconds=1.5, rate=48_000, channels=2))).voice
    assert voice.sample_rate == 44_100
    channels, width, rate, frames = read_wav(data_dir / voice.file_path)
    assert (channels, width, rate) == (1, 2, 44_100)
    assert frames / rate == pytest.approx(1.5, abs=0.01)
    assert voice.duration == pytest.approx(frames / rate)


async def test_compressed_uploads_are_stored_as_wav(library: VoiceLibrary, data_dir: Path) -> None:
    mp3 = encode_audio(harmonic_tone(150, 2.0, 24_000), 24_000, AudioFormat.MP3)
    voice = (await library.add("from_mp3", mp3, source_filename="x.mp3")).voice
    assert read_wav(data_dir / voice.file_path)[:3] == (1, 2, 24_000)
    assert voice.duration == pytest.approx(2.0, abs=0.1)
    assert voice.source_hash == sha256(mp3)


async def test_reference_audio_is_what_an_engine_needs(library: VoiceLibrary, data_dir: Path) -> None:
    voice = (await library.add("ref", voice_wav(), transcript="[S1] Hi.")).voice
    reference = await library.reference_audio("REF")  # ids are matched without regard to case
    assert reference.voice_id == "ref"
    assert reference.audio_path == data_dir / "audio_prompts/ref.wav"
    assert reference.transcript == "[S1] Hi."
    assert (reference.content_hash, reference.duration, reference.sample_rate) == (
        voice.content_hash,
        voice.duration,
        voice.sample_rate,
    )
    untranscribed = await library.add("bare", voice_wav())
    assert (await library.reference_audio(untranscribed.voice.voice_id)).transcript == ""


@pytest.mark.parametrize("voice_id", ["nobody", "../etc", "en-us+f3", ""])
async def test_reference_audio_of_an_unknown_voice_is_invalid_voice_id(library: VoiceLibrary, voice_id: str) -> None:
    with pytest.raises(VoiceNotFound) as info:
        await library.reference_audio(voice_id, param="voice_id")
    assert info.value.status_code == 400
    assert info.value.param == "voice_id"


async def test_an_existing_id_is_a_conflict_unless_overwrite(
    library: VoiceLibrary, data_dir: Path, db_url: str | None
) -> None:
    first = (await library.add("taken", voice_wav(), transcript="first")).voice
    before = snapshot(data_dir, db_url)
    for spelling in ("taken", "TAKEN"):
        with pytest.raises(Conflict) as info:
            await library.add(spelling, voice_wav(f0=300), transcript="second", param="id")
        assert info.value.status_code == 409
        assert info.value.param == "id"
    assert snapshot(data_dir, db_url) == before

    replaced = await library.add("Taken", voice_wav(f0=300), transcript="second", overwrite=True)
    assert replaced.replaced
    assert replaced.voice.voice_id == "taken"  # kept under the spelling first stored
    assert replaced.voice.content_hash != first.content_hash
    assert replaced.voice.content_hash == sha256((data_dir / "audio_prompts/taken.wav").read_bytes())
    assert (data_dir / "audio_prompts/taken.txt").read_text(encoding="utf-8") == "second\n"
    assert await library.list() == [replaced.voice]


async def test_overwrite_without_transcript_removes_the_old_one(library: VoiceLibrary, data_dir: Path) -> None:
    await library.add("v", voice_wav(), transcript="old words")
    voice = (await library.add("v", voice_wav(f0=200), overwrite=True)).voice
    assert (voice.transcript, voice.transcript_source) == (None, TranscriptSource.NONE)
    assert not (data_dir / "audio_prompts/v.txt").exists()


BAD_IDS = ["../x", "a/b", "a.b", " ", "", "x" * 65, "\x00", "..", "a\\b"]


@pytest.mark.parametrize("voice_id", BAD_IDS)
async def test_bad_ids_write_nothing(library: VoiceLibrary, data_dir: Path, voice_id: str, db_url: str | None) -> None:
    await library.add("existing", voice_wav())
    before = snapshot(data_dir, db_url)
    with pytest.raises(InvalidId):
        await library.add(voice_id, voice_wav(), transcript="x", overwrite=True)
    with pytest.raises(InvalidId):
        await library.set_transcript(voice_id, "x")
    with pytest.raises(InvalidId):
        await library.delete(voice_id)
    assert await library.get(voice_id) is None
    assert snapshot(data_dir, db_url) == before
    assert sorted(p.name for p in data_dir.parent.iterdir()) == ["data"]  # nothing escaped the data dir


def _silent() -> bytes:
    return wav_bytes(np.zeros(48_000, dtype=np.float32), 24_000)


def _too_short() -> bytes:
    return voice_wav(seconds=0.5)


def _too_long() -> bytes:
    return voice_wav(seconds=MAX_SECONDS + 1, rate=8_000)


def _too_big() -> bytes:
    return voice_wav(seconds=4.0, rate=48_000, channels=2)  # 768 KB > 512 KB


@pytest.mark.parametrize(
    ("make", "error", "says"),
    [
        (lambda: b"", AudioProcessingError, "empty"),
        (lambda: b"\x00\x01garbage" * 500, AudioProcessingError, "not a supported audio file"),
        (lambda: b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\xff" * 100, AudioProcessingError, "Unusable audio"),
        (_silent, AudioProcessingError, "silent"),
        (_too_short, AudioProcessingError, "at least 1 s"),
        (_too_long, AudioProcessingError, "longer than the 5 s allowed"),
        (_too_big, PayloadTooLarge, "the limit is 0.5 MB"),
    ],
    ids=["empty", "garbage", "broken-wav", "silent", "0.5s", "too-long", "too-big"],
)
async def test_bad_audio_writes_nothing_and_keeps_the_earlier_voice(
    library: VoiceLibrary, data_dir: Path, make: object, error: type[Exception], says: str, db_url: str | None
) -> None:
    earlier = (await library.add("v", voice_wav(), transcript="earlier")).voice
    before = snapshot(data_dir, db_url)
    assert callable(make)
    with pytest.raises(error, match=says) as info:
        await library.add("v", make(), transcript="later", overwrite=True)
    assert getattr(info.value, "status_code", None) == (413 if error is PayloadTooLarge else 400)
    with pytest.raises(error):
        await library.add("brand_new", make())
    assert snapshot(data_dir, db_url) == before
    assert await library.get("v") == earlier


async def test_set_transcript_updates_row_and_file(library: VoiceLibrary, data_dir: Path) -> None:
    await library.add("v", voice_wav())
    voice = await library.set_transcript("v", "Corrected words.", TranscriptSource.MANUAL)
    assert (voice.transcript, voice.transcript_source) == ("Corrected words.", TranscriptSource.MANUAL)
    assert (data_dir / "audio_prompts/v.txt").read_text(encoding="utf-8") == "Corrected words.\n"
    assert await library.get("v") == voice

    cleared = await library.set_transcript("v", "   ")
    assert (cleared.transcript, cleared.transcript_source) == (None, TranscriptSource.NONE)
    assert not (data_dir / "audio_prompts/v.txt").exists()
    assert cleared.content_hash == voice.content_hash


async def test_missing_voices_are_not_found(library: VoiceLibrary, data_dir: Path) -> None:
    with pytest.raises(NotFound) as info:
        await library.delete("ghost")
    assert info.value.status_code == 404
    with pytest.raises(NotFound):
        await library.set_transcript("ghost", "words")
    assert sorted(p.name for p in (data_dir / "audio_prompts").iterdir()) == []
