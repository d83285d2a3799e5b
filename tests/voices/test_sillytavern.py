"""Replays SillyTavern's Dia provider (both versions, see spec/clients.md) against a real uvicorn server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, uvicorn_server
from tests.voices.conftest import assert_error, assert_speech, voice_wav

ST_ORIGIN = "http://127.0.0.1:8000"  # SillyTavern runs in a browser on another origin


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path / "st"
    data_dir.mkdir()
    with uvicorn_server(make_settings(data_dir)) as live:
        yield live


async def test_older_dia_provider_flow(server: LiveServer) -> None:
    bearer = {"Authorization": "Bearer sk-anything"}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as st:
        assert (await st.get("/health")).status_code == 200  # checkReady(): no auth header

        # "Create Custom Voice": the id is the voice name, lower-cased, non-alphanumerics as '_'
        upload = await st.post(
            "/v1/audio_prompts/upload",
            headers=bearer,
            data={"prompt_id": "seraphina_voice"},
            files={"audio_file": ("seraphina.wav", voice_wav(seconds=4.0), "audio/wav")},
        )
        assert upload.status_code == 200, upload.text
        mapping = await st.post(
            "/v1/voice_mappings",
            headers={**bearer, "Content-Type": "application/json"},
            json={
                "voice_id": "seraphina_voice",
                "style": "natural",
                "primary_speaker": "S1",
                "audio_prompt": "seraphina_voice",
            },
        )
        assert mapping.status_code == 200, mapping.text

        # loadCustomVoices(): `for (const mapping of voiceMappings) ... mapping.voice_id`
        mappings = (await st.get("/v1/voice_mappings", headers=bearer)).json()
        assert isinstance(mappings, list)
        assert [item["voice_id"] for item in mappings] == ["seraphina_voice"]

        # generateTts(): "[S2] text" with the custom voice and a built-in one. The provider sends
        # model "dia"; only the built-in engine runs here, so the engine-independent request uses tts-1.
        for voice in ("seraphina_voice", "alloy", "shimmer"):
            speech = await st.post(
                "/v1/audio/speech",
                headers=bearer,
                json={
                    "model": "tts-1",
                    "input": "[S2] The quick brown fox jumps over the lazy dog.",
                    "voice": voice,
                    "response_format": "wav",
                    "speed": 1.0,
                },
            )
            assert speech.status_code == 200, speech.text
            assert speech.headers["content-type"].startswith("audio/wav")
            assert_speech(speech.content)
        as_sent = await st.post(
            "/v1/audio/speech",
            headers=bearer,
            json={"model": "dia", "input": "[S2] Hello.", "voice": "seraphina_voice", "response_format": "wav"},
        )
        body = assert_error(as_sent, 503, "MODEL_NOT_LOADED")
        assert "dia" in body["detail"]  # what the provider shows the user: `${status} - ${errorText}`

        # removeCustomVoice()
        assert (await st.delete("/v1/voice_mappings/seraphina_voice", headers=bearer)).status_code == 200
        assert (await st.get("/v1/voice_mappings", headers=bearer)).json() == []


async def test_newer_dia_provider_flow(server: LiveServer) -> None:
    origin = {"Origin": ST_ORIGIN}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as st:
        preflight = await st.options(
            "/audio_prompts/upload",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] in ("*", ST_ORIGIN)

        upload = await st.post(
            "/audio_prompts/upload",
            headers=origin,
            data={"prompt_id": "bard_prompt", "transcript": "[S1] Gather round, friends, for a tale."},
            files={"audio_file": ("bard.mp3", voice_wav(seconds=3.0), "audio/mpeg")},
        )
        assert upload.status_code == 200, upload.text
        assert upload.headers["access-control-allow-origin"] in ("*", ST_ORIGIN)
        assert upload.json()["transcript"] == "[S1] Gather round, friends, for a tale."

        for mapping in (
            {
                "voice_id": "bard",
                "style": "conversational",
                "primary_speaker": "S1",
                "audio_prompt": "bard_prompt",
                "audio_prompt_transcript": "[S1] Gather round, friends, for a tale.",
            },
            {
                "voice_id": "seed_voice_42",
                "style": "seed_based",
                "primary_speaker": "S2",
                "audio_prompt": None,
                "voice_seed": 42,
            },
        ):
            saved = await st.post("/voice_mappings", headers=origin, json=mapping)
            assert saved.status_code == 200, saved.text

        voices = (await st.get("/voices", headers=origin)).json()["voices"]
        by_id = {voice["voice_id"]: voice for voice in voices}
        assert {"bard", "seed_voice_42", "bard_prompt", "aria"} <= set(by_id)
        assert all("name" in voice for voice in voices)
        mappings = (await st.get("/voice_mappings", headers=origin)).json()
        assert mappings["seed_voice_42"]["voice_seed"] == 42 and mappings["seed_voice_42"]["audio_prompt"] is None
        assert mappings["bard"]["audio_prompt"] == "bard_prompt"

        generate_body = {
            "text": "The quick brown fox jumps over the lazy dog.",
            "response_format": "wav",
            "speed": 1.0,
            "temperature": 1.2,
            "cfg_scale": 3.0,
            "top_p": 0.95,
            "max_tokens": 3072,
        }
        for voice_id, role, seed in (("bard", "assistant", None), ("seed_voice_42", "user", 42), ("aria", "system", 7)):
            body = {**generate_body, "voice_id": voice_id, "role": role, "voice_seed": seed}
            generated = await st.post("/generate", headers=origin, json=body)
            assert generated.status_code == 200, generated.text
            assert_speech(generated.content)

        # long text: async job, polled, then fetched
        queued = await st.post("/generate", params={"async_mode": "true"}, json={**generate_body, "voice_id": "bard"})
        assert queued.status_code == 200, queued.text
        job_id = queued.json()["job_id"]
        assert_speech(await _job_result(st, job_id))

        metadata = (await st.get("/audio_prompts/metadata")).json()["audio_prompts"]
        assert [item["prompt_id"] for item in metadata] == ["bard_prompt"]
        one = (await st.get("/audio_prompts/metadata/bard_prompt")).json()
        assert one["transcript_source"] == "manual"
        discovered = await st.post("/audio_prompts/discover", json={"force_retranscribe": False})
        assert discovered.status_code == 200 and discovered.json()["total_prompts"] == 1
        assert (await st.get("/whisper/status")).status_code == 200
        assert (await st.get("/config")).status_code == 200

        assert (await st.delete("/voice_mappings/bard")).status_code == 200
        assert (await st.delete("/audio_prompts/bard_prompt")).status_code == 200
        assert set(await _mapping_ids(st)) == {"seed_voice_42"}
        still = await st.post("/generate", json={**generate_body, "voice_id": "seed_voice_42"})
        assert still.status_code == 200


async def _job_result(st: httpx.AsyncClient, job_id: str) -> bytes:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = (await st.get(f"/jobs/{job_id}")).json()
        assert status["status"] not in ("failed", "cancelled"), status
        if status["status"] == "completed":
            result = await st.get(f"/jobs/{job_id}/result")
            assert result.status_code == 200
            return result.content
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def _mapping_ids(st: httpx.AsyncClient) -> list[str]:
    return list((await st.get("/voice_mappings")).json())
