"""Voice mappings: create/update/delete at / and /v1, the object and array listings, and speech with them."""

from __future__ import annotations

import httpx
import pytest

from tests.voices.conftest import assert_error, assert_speech, speak_wav, upload_prompt, voice_wav


async def _save(client: httpx.AsyncClient, prefix: str = "", **body: object) -> httpx.Response:
    return await client.post(f"{prefix}/voice_mappings", json=body)


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_create_update_delete(client: httpx.AsyncClient, prefix: str) -> None:
    await upload_prompt(client, "sample", voice_wav(), transcript="A sample of my voice.")
    saved = await _save(client, prefix, voice_id="custom_voice", style="conversational", audio_prompt="sample")
    assert saved.status_code == 200, saved.text
    assert saved.json()["mapping"]["primary_speaker"] == "S1"

    as_object = (await client.get("/voice_mappings")).json()
    assert as_object == {
        "custom_voice": {
            "style": "conversational",
            "primary_speaker": "S1",
            "audio_prompt": "sample",
            "audio_prompt_transcript": None,
            "voice_seed": None,
            "broken": False,
        }
    }
    as_array = (await client.get("/v1/voice_mappings")).json()
    assert isinstance(as_array, list)
    assert [(m["voice_id"], m["style"], m["audio_prompt"]) for m in as_array] == [
        ("custom_voice", "conversational", "sample")
    ]

    updated = await client.put(f"{prefix}/voice_mappings/custom_voice", json={"primary_speaker": "S2"})
    assert updated.status_code == 200, updated.text
    mapping = (await client.get("/voice_mappings")).json()["custom_voice"]
    assert (mapping["primary_speaker"], mapping["style"], mapping["audio_prompt"]) == ("S2", "conversational", "sample")

    replaced = await _save(client, prefix, voice_id="custom_voice", style="calm", voice_seed=7)
    assert replaced.status_code == 200
    mapping = (await client.get("/voice_mappings")).json()["custom_voice"]
    assert (mapping["style"], mapping["audio_prompt"], mapping["voice_seed"]) == ("calm", None, 7)

    deleted = await client.delete(f"{prefix}/voice_mappings/custom_voice")
    assert deleted.status_code == 200
    assert (await client.get("/voice_mappings")).json() == {}
    assert (await client.get("/v1/voice_mappings")).json() == []
    assert_error(await client.delete(f"{prefix}/voice_mappings/custom_voice"), 404, "NOT_FOUND")
    assert_error(await client.put(f"{prefix}/voice_mappings/custom_voice", json={"style": "x"}), 404, "NOT_FOUND")
    assert (await client.get("/audio_prompts/metadata/sample")).status_code == 200  # the prompt stays


async def test_speech_with_a_prompt_mapping_and_a_seed_mapping(client: httpx.AsyncClient) -> None:
    await upload_prompt(client, "sample", voice_wav(seconds=2.0), transcript="A sample of my voice.")
    assert (await _save(client, voice_id="cloned", audio_prompt="sample", primary_speaker="S2")).status_code == 200
    assert (await _save(client, voice_id="seedy", style="seed_based", voice_seed=42)).status_code == 200
    assert (await _save(client, voice_id="alloy", style="seed_based", voice_seed=43)).status_code == 200

    for voice in ("cloned", "seedy", "alloy"):
        await speak_wav(client, voice)
        generated = await client.post(
            "/generate",
            json={"text": "The quick brown fox jumps over the lazy dog.", "voice_id": voice, "role": "user"},
        )
        assert generated.status_code == 200, generated.text
        assert_speech(generated.content)

    voices = (await client.get("/voices")).json()["voices"]
    listed = [(voice["voice_id"], voice["type"]) for voice in voices]
    assert listed[-3:] == [("alloy", "mapping"), ("cloned", "mapping"), ("seedy", "mapping")]
    assert ("alloy", "builtin") not in listed  # each name once, as it resolves
    assert ("sample", "reference") in listed


async def test_mapping_whose_prompt_was_deleted_is_broken_not_an_error(client: httpx.AsyncClient) -> None:
    await upload_prompt(client, "doomed", voice_wav())
    await _save(client, voice_id="orphan", audio_prompt="doomed")
    assert (await client.delete("/audio_prompts/doomed")).status_code == 200

    assert (await client.get("/voice_mappings")).json()["orphan"]["broken"] is True
    assert (await client.get("/v1/voice_mappings")).json()[0]["broken"] is True
    entry = next(v for v in (await client.get("/v1/voices")).json()["voices"] if v["voice_id"] == "orphan")
    assert (entry["type"], entry["broken"]) == ("mapping", True)

    for request in (
        client.post("/v1/audio/speech", json={"input": "Hello there.", "voice": "orphan"}),
        client.post("/generate", json={"text": "Hello there.", "voice_id": "orphan"}),
    ):
        body = assert_error(await request, 400, "INVALID_VOICE_ID")
        assert "doomed" in body["detail"] and "no longer exists" in body["detail"]


async def test_bad_mappings_are_refused(client: httpx.AsyncClient) -> None:
    unknown_prompt = await _save(client, voice_id="ghost", audio_prompt="never_uploaded")
    assert_error(unknown_prompt, 400, "INVALID_VOICE_ID")
    bad_speaker = await _save(client, voice_id="ghost", primary_speaker="S3")
    assert_error(bad_speaker, 422, "VALIDATION_ERROR")
    bad_id = await _save(client, voice_id="../etc/passwd")
    assert_error(bad_id, 400, "INVALID_ID")
    assert (await client.get("/voice_mappings")).json() == {}
