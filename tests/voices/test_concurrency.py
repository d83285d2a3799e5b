"""Concurrent uploads of one id over real HTTP (uvicorn): one complete voice wins, never a mix."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings, uvicorn_server
from tests.support.audio import decode_bytes
from tests.voices.conftest import tone_voice
from tts_server.audio.effects import median_pitch_hz

PITCHES = [100.0, 140.0, 190.0, 250.0, 320.0, 120.0, 170.0, 220.0]


async def _upload(client: httpx.AsyncClient, index: int) -> httpx.Response:
    return await client.post(
        "/v1/audio_prompts/upload",
        data={"prompt_id": "contested", "transcript": f"Take number {index}."},
        files={"audio_file": (f"take{index}.wav", tone_voice(PITCHES[index], seconds=1.5 + 0.25 * index), "audio/wav")},
    )


@pytest.fixture
def server_dir(tmp_path: Path) -> Path:
    path = tmp_path / "served"
    path.mkdir()
    return path


async def test_concurrent_prompt_uploads_leave_one_whole_voice(server_dir: Path) -> None:
    with uvicorn_server(make_settings(server_dir, workers=1)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            responses = await asyncio.gather(*(_upload(client, i) for i in range(len(PITCHES))))
            assert [response.status_code for response in responses] == [200] * len(PITCHES)
            assert sum(not response.json()["replaced"] for response in responses) == 1
            metadata = (await client.get("/audio_prompts/metadata/contested")).json()

    wav = (server_dir / "audio_prompts/contested.wav").read_bytes()
    transcript = (server_dir / "audio_prompts/contested.txt").read_text(encoding="utf-8").strip()
    winner = int(transcript.removeprefix("Take number ").rstrip("."))
    decoded = decode_bytes(wav)
    # audio, transcript file and row all come from the same upload
    assert metadata["transcript"] == transcript
    assert metadata["content_hash"] == hashlib.sha256(wav).hexdigest()
    assert metadata["file_size"] == len(wav)
    assert decoded.duration == pytest.approx(1.5 + 0.25 * winner, abs=0.01)
    assert metadata["duration"] == pytest.approx(decoded.duration, abs=0.01)
    assert median_pitch_hz(decoded.samples, decoded.sample_rate) == pytest.approx(PITCHES[winner], rel=0.05)
    leftovers = sorted(path.name for path in (server_dir / "audio_prompts").iterdir())
    assert leftovers == ["contested.txt", "contested.wav"]


async def test_concurrent_reference_adds_one_wins_the_rest_conflict(server_dir: Path) -> None:
    with uvicorn_server(make_settings(server_dir, workers=1)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:

            async def add(index: int) -> httpx.Response:
                return await client.post(
                    "/v1/references/add",
                    data={"id": "only_one", "text": f"Take number {index}."},
                    files={"audio": ("take.wav", tone_voice(PITCHES[index]), "audio/wav")},
                )

            responses = await asyncio.gather(*(add(i) for i in range(6)))
            statuses = sorted(response.status_code for response in responses)
            assert statuses == [200, 409, 409, 409, 409, 409]
            winner = next(response.json() for response in responses if response.status_code == 200)
            listed = (await client.get("/v1/references")).json()["references"]
            assert [(entry["id"], entry["text"]) for entry in listed] == [("only_one", winner["text"])]
