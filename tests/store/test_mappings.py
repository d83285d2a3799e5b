"""Voice mappings: CRUD, persistence, and the broken flag once their audio prompt is gone."""

from __future__ import annotations

import pytest

from tests.store.conftest import OpenStore, voice_wav
from tts_server.errors import InvalidId, InvalidRequest, NotFound, VoiceNotFound
from tts_server.store.mappings import VoiceMappings
from tts_server.store.voices import VoiceLibrary


async def test_mapping_crud(mappings: VoiceMappings) -> None:
    seeded = await mappings.upsert("aria", voice_seed=42)
    assert (seeded.voice_id, seeded.style, seeded.primary_speaker) == ("aria", "neutral", "S1")
    assert (seeded.audio_prompt, seeded.audio_prompt_transcript, seeded.voice_seed) == (None, None, 42)
    assert not seeded.broken
    assert await mappings.get("ARIA") == seeded

    updated = await mappings.upsert("Aria", style="conversational", primary_speaker="S2")
    assert (updated.voice_id, updated.style, updated.primary_speaker, updated.voice_seed) == (
        "aria",
        "conversational",
        "S2",
        None,
    )
    assert updated.created_at == seeded.created_at
    assert updated.updated_at >= seeded.updated_at

    other = await mappings.upsert("zed", style="  ")
    assert other.style == "neutral"
    assert await mappings.list() == [updated, other]

    assert await mappings.delete("aria") == updated
    assert await mappings.get("aria") is None
    with pytest.raises(NotFound) as info:
        await mappings.delete("aria")
    assert info.value.status_code == 404


async def test_a_mapping_to_a_deleted_prompt_is_listed_as_broken(
    library: VoiceLibrary, mappings: VoiceMappings
) -> None:
    await library.add("my_prompt", voice_wav(), transcript="Hello.")
    custom = await mappings.upsert(
        "custom", style="conversational", audio_prompt="MY_PROMPT", audio_prompt_transcript=" Hello. "
    )
    assert (custom.audio_prompt, custom.audio_prompt_transcript, custom.broken) == ("my_prompt", "Hello.", False)

    await library.delete("my_prompt")
    (listed,) = await mappings.list()
    assert listed.broken
    assert listed.audio_prompt == "my_prompt"
    fetched = await mappings.get("custom")
    assert fetched is not None
    assert fetched.broken

    await library.add("my_prompt", voice_wav(f0=200))
    assert not (await mappings.list())[0].broken


async def test_a_mapping_must_name_an_existing_prompt(mappings: VoiceMappings) -> None:
    with pytest.raises(VoiceNotFound, match="Audio prompt 'nowhere' not found") as info:
        await mappings.upsert("custom", audio_prompt="nowhere")
    assert (info.value.status_code, info.value.param) == (400, "audio_prompt")
    assert await mappings.list() == []


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"voice_id": "../x"}, InvalidId, "voice_id"),
        ({"voice_id": "ok", "audio_prompt": "a/b"}, InvalidId, "audio_prompt"),
        ({"voice_id": "ok", "primary_speaker": "S3"}, InvalidRequest, "primary_speaker"),
        ({"voice_id": "ok", "voice_seed": 2**64}, InvalidRequest, "voice_seed"),
    ],
)
async def test_bad_mappings_are_refused(
    mappings: VoiceMappings, kwargs: dict[str, object], error: type[Exception], param: str
) -> None:
    kwargs = dict(kwargs)  # the parameters are shared by the runs on each database
    voice_id = kwargs.pop("voice_id")
    assert isinstance(voice_id, str)
    with pytest.raises(error) as info:
        await mappings.upsert(voice_id, **kwargs)  # type: ignore[arg-type]
    assert getattr(info.value, "param", None) == param
    assert await mappings.list() == []


async def test_mappings_survive_a_restart(open_store: OpenStore) -> None:
    db, _, mappings = open_store()
    saved = await mappings.upsert("seed_voice", style="seed_based", voice_seed=-7)
    db.close()
    _, _, reopened = open_store()
    assert await reopened.list() == [saved]
