"""The Dia view: /audio_prompts/... at / and under /v1, discovery of hand-dropped files, transcripts."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.support.audio import decode_bytes
from tests.support.signals import harmonic_tone
from tests.voices.conftest import RunApp, assert_error, assert_speech, upload_prompt, voice_wav
from tts_server.audio.encode import AudioFormat, encode_audio


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_upload_list_metadata_speak_delete(client: httpx.AsyncClient, data_dir: Path, prefix: str) -> None:
    response = await upload_prompt(client, "my_voice", voice_wav(seconds=2.5, rate=44_100), prefix=prefix)
    assert response.status_code == 200, response.text
    uploaded = response.json()
    assert uploaded["message"] == "Audio prompt uploaded successfully"
    assert uploaded["prompt_id"] == "my_voice"
    assert uploaded["file_path"] == "audio_prompts/my_voice.wav"
    assert abs(uploaded["duration"] - 2.5) < 0.01
    assert uploaded["sample_rate"] == 44_100
    assert uploaded["transcript"] == ""
    assert uploaded["transcript_source"] == "none"
    assert uploaded["replaced"] is False
    stored = decode_bytes((data_dir / uploaded["file_path"]).read_bytes())
    assert stored.channels == 1 and abs(stored.duration - 2.5) < 0.01

    listed = (await client.get(f"{prefix}/audio_prompts")).json()["audio_prompts"]
    assert listed == [
        {"prompt_id": "my_voice", "file_path": "audio_prompts/my_voice.wav", "duration": 2.5, "sample_rate": 44_100}
    ]
    metadata = (await client.get(f"{prefix}/audio_prompts/metadata")).json()["audio_prompts"]
    assert [item["prompt_id"] for item in metadata] == ["my_voice"]
    one = (await client.get(f"{prefix}/audio_prompts/metadata/my_voice")).json()
    assert one == metadata[0]
    assert one["file_size"] == (data_dir / "audio_prompts/my_voice.wav").stat().st_size
    assert one["source"] == "audio_prompt" and one["source_filename"] == "voice.wav"

    generated = await client.post(
        "/generate", json={"text": "The quick brown fox jumps over the lazy dog.", "voice_id": "my_voice"}
    )
    assert generated.status_code == 200, generated.text
    assert_speech(generated.content)

    deleted = await client.delete(f"{prefix}/audio_prompts/my_voice")
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Audio prompt deleted", "prompt_id": "my_voice"}
    assert (await client.get(f"{prefix}/audio_prompts")).json() == {"audio_prompts": []}
    assert_error(await client.get(f"{prefix}/audio_prompts/metadata/my_voice"), 404, "NOT_FOUND")
    assert_error(await client.delete(f"{prefix}/audio_prompts/my_voice"), 404, "NOT_FOUND")


async def test_upload_of_an_existing_prompt_replaces_it_and_says_so(client: httpx.AsyncClient, data_dir: Path) -> None:
    first = await upload_prompt(client, "take", voice_wav(seconds=2.0), transcript="The first take.")
    assert first.status_code == 200 and first.json()["replaced"] is False
    second = await upload_prompt(client, "take", voice_wav(seconds=4.0), transcript="The second take.")
    assert second.status_code == 200, second.text
    assert second.json()["replaced"] is True
    assert second.json()["message"] == "Audio prompt replaced"
    metadata = (await client.get("/audio_prompts/metadata/take")).json()
    assert (round(metadata["duration"]), metadata["transcript"]) == (4, "The second take.")
    assert decode_bytes((data_dir / "audio_prompts/take.wav").read_bytes()).duration == pytest.approx(4.0, abs=0.01)
    assert (data_dir / "audio_prompts/take.txt").read_text(encoding="utf-8") == "The second take.\n"


async def test_transcript_given_at_upload_and_replaced_by_put(client: httpx.AsyncClient, data_dir: Path) -> None:
    uploaded = await upload_prompt(client, "speaker", voice_wav(), transcript="Hello, this is my voice.", prefix="/v1")
    assert (uploaded.json()["transcript"], uploaded.json()["transcript_source"]) == (
        "Hello, this is my voice.",
        "manual",
    )
    for prefix in ("", "/v1"):
        text = f"Corrected through {prefix or '/'}."
        response = await client.put(f"{prefix}/audio_prompts/speaker/transcript", json={"transcript": text})
        assert response.status_code == 200, response.text
        assert response.json()["saved_to"] == "audio_prompts/speaker.txt"
        metadata = (await client.get("/audio_prompts/metadata/speaker")).json()
        assert (metadata["transcript"], metadata["transcript_source"]) == (text, "manual")
        assert (data_dir / "audio_prompts/speaker.txt").read_text(encoding="utf-8") == text + "\n"
    missing = await client.put("/audio_prompts/nobody/transcript", json={"transcript": "Hi."})
    assert_error(missing, 404, "NOT_FOUND")


def _drop(data_dir: Path, name: str, data: bytes, transcript: str | None = None) -> None:
    folder = data_dir / "audio_prompts"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    if transcript is not None:
        (folder / name).with_suffix(".txt").write_text(transcript + "\n", encoding="utf-8")


def _mp3(seconds: float, f0: float) -> bytes:
    return encode_audio(harmonic_tone(f0, seconds, 24_000), 24_000, AudioFormat.MP3, 24_000)


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_discover_imports_hand_dropped_files(client: httpx.AsyncClient, data_dir: Path, prefix: str) -> None:
    _drop(data_dir, "dropped_wav.wav", voice_wav(seconds=2.0), transcript="Dropped by hand.")
    _drop(data_dir, "dropped_mp3.mp3", _mp3(2.0, 180.0))
    _drop(data_dir, "bad name.wav", voice_wav())
    _drop(data_dir, "garbage.wav", b"not audio at all" * 100)

    response = await client.post(f"{prefix}/audio_prompts/discover", json={"force_retranscribe": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Audio prompt discovery completed"
    assert body["total_prompts"] == 2
    found = {item["prompt_id"]: item for item in body["discovered"]}
    assert sorted(found) == ["dropped_mp3", "dropped_wav"]
    assert (found["dropped_wav"]["transcript"], found["dropped_wav"]["transcript_source"]) == (
        "Dropped by hand.",
        "file",
    )
    assert found["dropped_mp3"]["file_path"] == "audio_prompts/dropped_mp3.wav"
    assert sorted(item["file_name"] for item in body["skipped"]) == ["bad name.wav", "garbage.wav"]

    again = (await client.post(f"{prefix}/audio_prompts/discover")).json()
    assert (again["discovered"], again["total_prompts"]) == ([], 2)
    generated = await client.post(
        "/generate", json={"text": "The quick brown fox jumps over the lazy dog.", "voice_id": "dropped_mp3"}
    )
    assert generated.status_code == 200, generated.text
    assert_speech(generated.content)


async def test_a_file_name_that_is_not_utf8_is_skipped_under_a_readable_name(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    # Python keeps the undecodable byte as an unpaired surrogate, which no JSON encoder takes: this was a 500.
    _drop(data_dir, os.fsdecode(b"caf\xe9.wav"), voice_wav())  # a Latin-1 name
    response = await client.post("/audio_prompts/discover")
    assert response.status_code == 200, response.text
    assert [item["file_name"] for item in response.json()["skipped"]] == ["caf\ufffd.wav"]


async def test_files_dropped_before_start_are_discovered_in_the_background(run_app: RunApp, data_dir: Path) -> None:
    _drop(data_dir, "early_bird.wav", voice_wav(seconds=2.0), transcript="I was here first.")
    async with run_app(auto_discover_prompts=True) as app:
        prompts = await _wait_for_prompts(app.client, 1)
        assert [(p["prompt_id"], p["transcript"], p["transcript_source"]) for p in prompts] == [
            ("early_bird", "I was here first.", "file")
        ]


async def test_no_discovery_at_start_when_it_is_off(run_app: RunApp, data_dir: Path) -> None:
    _drop(data_dir, "early_bird.wav", voice_wav(seconds=2.0))
    async with run_app(auto_discover_prompts=False) as app:
        await app.state.voice_service.stop()  # nothing may be running; this returns at once
        assert (await app.client.get("/audio_prompts")).json() == {"audio_prompts": []}
        discovered = (await app.client.post("/audio_prompts/discover")).json()
        assert [item["prompt_id"] for item in discovered["discovered"]] == ["early_bird"]


async def _wait_for_prompts(client: httpx.AsyncClient, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        prompts: list[dict[str, object]] = (await client.get("/audio_prompts/metadata")).json()["audio_prompts"]
        if len(prompts) >= count:
            return prompts
        await asyncio.sleep(0.05)
    raise AssertionError("start-up discovery did not import the dropped files")
