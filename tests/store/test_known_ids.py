"""The in-memory id indexes that let built-in voice names skip the database: never missing a stored id."""

from __future__ import annotations

import pytest

from tests.store.conftest import OpenStore, voice_wav
from tts_server.errors import AudioProcessingError
from tts_server.store.database import Database
from tts_server.store.ids import KnownIds
from tts_server.store.mappings import VoiceMappings
from tts_server.store.voices import VoiceLibrary


class CommitFailed(Exception):
    pass


def test_known_ids_are_case_insensitive() -> None:
    ids = KnownIds(["Anna"])
    ids.adding("BOB")
    assert ids.may_exist("anna") and ids.may_exist("bob") and not ids.may_exist("carl")
    ids.deleted("ANNA")
    assert not ids.may_exist("Anna")


async def test_library_ids_follow_adds_and_deletes_and_reload(open_store: OpenStore) -> None:
    db, library, _ = open_store()
    assert not library.may_exist("anna")
    await library.add("Anna", voice_wav(), transcript="Hello.")
    assert library.may_exist("anna") and library.may_exist("ANNA")
    await library.add("kept", voice_wav(), transcript="Hello.")
    await library.delete("anna")
    assert not library.may_exist("anna")
    db.close()
    _, reopened, _ = open_store()
    assert reopened.may_exist("KEPT") and not reopened.may_exist("anna")


async def test_a_refused_upload_leaves_no_voice_whatever_the_index_says(library: VoiceLibrary) -> None:
    with pytest.raises(AudioProcessingError):
        await library.add("junk", b"not audio at all")
    assert await library.get("junk") is None  # the index may keep "junk": a lookup then finds nothing


async def test_mapping_ids_follow_upserts_and_deletes_and_reload(open_store: OpenStore) -> None:
    db, _, mappings = open_store()
    await mappings.upsert("Narrator", voice_seed=3)
    assert mappings.may_exist("narrator")
    await mappings.delete("NARRATOR")
    assert not mappings.may_exist("narrator")
    await mappings.upsert("kept", voice_seed=4)
    db.close()
    _, _, reopened = open_store()
    assert reopened.may_exist("kept") and not reopened.may_exist("narrator")


async def test_a_mapping_delete_that_fails_to_commit_keeps_its_id(
    store: tuple[Database, VoiceLibrary, VoiceMappings], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _, mappings = store
    await mappings.upsert("narrator", voice_seed=3)

    def fail() -> None:
        raise CommitFailed

    monkeypatch.setattr(db, "_commit", fail)
    with pytest.raises(CommitFailed):
        await mappings.delete("narrator")
    monkeypatch.undo()
    assert await mappings.get("narrator") is not None  # rolled back
    assert mappings.may_exist("narrator")
