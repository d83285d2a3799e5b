"""The S1-mini view: POST /v1/references/add, GET /v1/references, DELETE, and speech with the voice."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.voices.conftest import add_reference, assert_error, speak_wav, voice_wav


async def test_add_list_speak_delete_round_trip(client: httpx.AsyncClient, data_dir: Path) -> None:
    response = await add_reference(client, "narrator", voice_wav(seconds=2.0), text="  Hello from the narrator. ")
    assert response.status_code == 200, response.text
    added = response.json()
    assert added["id"] == added["voice_id"] == "narrator"
    assert added["text"] == "Hello from the narrator."
    assert added["transcript_source"] == "manual"
    assert abs(added["duration"] - 2.0) < 0.01
    assert added["replaced"] is False
    assert (data_dir / "audio_prompts/narrator.wav").is_file()
    assert (data_dir / "audio_prompts/narrator.txt").read_text(encoding="utf-8") == "Hello from the narrator.\n"

    listed = (await client.get("/v1/references")).json()["references"]
    assert [(entry["id"], entry["text"]) for entry in listed] == [("narrator", "Hello from the narrator.")]

    voices = (await client.get("/v1/voices")).json()["voices"]
    entry = next(voice for voice in voices if voice["voice_id"] == "narrator")
    assert entry["type"] == "reference"
    assert entry["cloning"] == "approximate"
    assert [voice["type"] for voice in voices].index("reference") > 0  # after the built-ins

    await speak_wav(client, "narrator")
    generated = await client.post("/generate", json={"text": "Hello there, my friend.", "voice_id": "narrator"})
    assert generated.status_code == 200, generated.text

    deleted = await client.delete("/v1/references/narrator")
    assert deleted.status_code == 200
    assert deleted.json()["id"] == "narrator"
    assert (await client.get("/v1/references")).json() == {"references": []}
    assert sorted(path.name for path in (data_dir / "audio_prompts").iterdir()) == []
    gone = await client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "narrator"})
    assert_error(gone, 400, "INVALID_VOICE_ID")


async def test_existing_id_is_a_conflict_unless_overwrite(client: httpx.AsyncClient) -> None:
    first = await add_reference(client, "anna", voice_wav(seconds=2.0), text="First take.")
    assert first.status_code == 200
    again = await add_reference(client, "anna", voice_wav(seconds=3.0), text="Second take.")
    assert_error(again, 409, "CONFLICT")
    same_name_other_case = await add_reference(client, "ANNA", voice_wav(seconds=3.0))
    assert_error(same_name_other_case, 409, "CONFLICT")
    kept = (await client.get("/v1/references")).json()["references"]
    assert [(entry["id"], entry["text"], round(entry["duration"])) for entry in kept] == [("anna", "First take.", 2)]

    replaced = await add_reference(client, "anna", voice_wav(seconds=3.0), text="Second take.", overwrite=True)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["replaced"] is True
    kept = (await client.get("/v1/references")).json()["references"]
    assert [(entry["id"], entry["text"], round(entry["duration"])) for entry in kept] == [("anna", "Second take.", 3)]


async def test_references_and_audio_prompts_are_one_library(client: httpx.AsyncClient) -> None:
    assert (await add_reference(client, "shared", voice_wav(), text="One library.")).status_code == 200
    prompts = (await client.get("/audio_prompts")).json()["audio_prompts"]
    assert [prompt["prompt_id"] for prompt in prompts] == ["shared"]
    assert (await client.delete("/audio_prompts/shared")).status_code == 200
    assert (await client.get("/v1/references")).json() == {"references": []}


async def test_deleting_an_unknown_reference_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.delete("/v1/references/nobody"), 404, "NOT_FOUND")
