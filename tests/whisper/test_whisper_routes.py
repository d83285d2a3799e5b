"""The Dia server's Whisper routes and automatic transcription of uploads and discovered prompts,
through the real app and a real (tiny) Whisper checkpoint."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.asr.conftest import SKIP_REASON
from tests.conftest import AppFactory
from tests.store.conftest import wav_bytes
from tests.support.signals import harmonic_tone
from tests.whisper.conftest import HEARD, WhisperApp

pytest.importorskip("whisper", reason=SKIP_REASON)

CLIP = wav_bytes(harmonic_tone(140.0, 2.0, 22_050), 22_050)


async def upload(client: httpx.AsyncClient, prompt_id: str, transcript: str | None = None) -> dict[str, Any]:
    fields = {"prompt_id": prompt_id} | ({"transcript": transcript} if transcript is not None else {})
    response = await client.post(
        "/audio_prompts/upload", data=fields, files={"audio_file": ("clip.wav", CLIP, "audio/wav")}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def metadata(client: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    response = await client.get(f"/audio_prompts/metadata/{prompt_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code
    assert body["error"]["code"] == code
    assert body["detail"] == body["error"]["message"]
    return body


# --- status and loading ------------------------------------------------------------------------


async def test_status_goes_from_not_loaded_to_loaded(whisper_app: WhisperApp, hello_checkpoint: Path) -> None:
    async with whisper_app() as client:
        before = (await client.get("/whisper/status")).json()
        assert before["available"] is True
        assert before["model_loaded"] is False
        assert before["state"] == "not_loaded"
        assert before["model_size"] == str(hello_checkpoint)
        assert before["auto_transcribe"] is True
        assert before["error"] is None

        loaded = await client.post("/whisper/load")
        assert loaded.status_code == 200, loaded.text
        assert loaded.json() == {
            "message": "Whisper model loaded successfully",
            "model_size": str(hello_checkpoint),
            "device": "cpu",  # auto resolves to the CPU here: no GPU
        }

        after = (await client.get("/whisper/status")).json()
        assert (after["model_loaded"], after["state"], after["device"]) == (True, "ready", "cpu")


async def test_load_of_a_missing_model_is_503_with_advice(app_factory: AppFactory, data_dir: Path) -> None:
    async with app_factory(auto_transcribe=True) as client:  # TTS_WHISPER_MODEL names a file that does not exist
        body = assert_envelope(await client.post("/whisper/load"), 503, "WHISPER_NOT_AVAILABLE")
        assert str(data_dir / "no-whisper.pt") in body["detail"]
        assert "TTS_WHISPER_MODEL" in body["detail"]

        status = (await client.get("/whisper/status")).json()
        assert (status["model_loaded"], status["state"]) == (False, "failed")
        assert status["error"] == body["detail"]


async def test_load_takes_a_model_from_the_body_or_query(
    whisper_app: WhisperApp, hello_checkpoint: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "other.pt"
    shutil.copyfile(hello_checkpoint, copy)
    async with whisper_app() as client:
        by_body = await client.post("/whisper/load", json={"model_size": str(copy)})
        assert by_body.status_code == 200, by_body.text
        assert by_body.json()["model_size"] == str(copy)
        assert (await client.get("/whisper/status")).json()["model_size"] == str(copy)

        by_query = await client.post("/whisper/load", params={"model_size": str(hello_checkpoint)})
        assert by_query.json()["model_size"] == str(hello_checkpoint)


async def test_load_refuses_an_unknown_model_and_keeps_the_loaded_one(whisper_app: WhisperApp) -> None:
    async with whisper_app() as client:
        assert (await client.post("/whisper/load")).status_code == 200
        body = assert_envelope(
            await client.post("/whisper/load", json={"model_size": "/nowhere/model.pt"}), 400, "VALIDATION_ERROR"
        )
        assert "neither a size name" in body["detail"]
        assert body["error"]["param"] == "model_size"
        status = (await client.get("/whisper/status")).json()
        assert (status["state"], status["model_loaded"]) == ("ready", True)


async def test_load_applies_the_size_saved_by_put_config(
    whisper_app: WhisperApp, hello_checkpoint: Path, tmp_path: Path
) -> None:
    configured = tmp_path / "configured.pt"
    shutil.copyfile(hello_checkpoint, configured)
    async with whisper_app() as client:
        changed = await client.put("/config", json={"whisper_model_size": str(configured)})
        assert changed.status_code == 200, changed.text
        loaded = await client.post("/whisper/load")
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["model_size"] == str(configured)


async def test_whisper_routes_need_the_api_key(whisper_app: WhisperApp) -> None:
    async with whisper_app(api_key="secret") as client:
        assert_envelope(await client.get("/whisper/status"), 401, "UNAUTHORIZED")
        assert_envelope(await client.post("/whisper/load"), 401, "UNAUTHORIZED")
        ok = await client.get("/whisper/status", headers={"Authorization": "Bearer secret"})
        assert ok.status_code == 200


# --- POST /audio_prompts/{id}/transcribe ---------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_transcribe_stores_the_transcript(whisper_app: WhisperApp, data_dir: Path, prefix: str) -> None:
    async with whisper_app() as client:
        await upload(client, "my_voice", transcript="Words typed by hand.")

        response = await client.post(f"{prefix}/audio_prompts/my_voice/transcribe")

        assert response.status_code == 200, response.text
        assert response.json() == {
            "message": "Transcription completed",
            "prompt_id": "my_voice",
            "transcript": HEARD,
            "transcript_source": "whisper_auto",
            "saved_to": "audio_prompts/my_voice.txt",
        }
        stored = await metadata(client, "my_voice")
        assert (stored["transcript"], stored["transcript_source"]) == (HEARD, "whisper_auto")
        assert (data_dir / "audio_prompts/my_voice.txt").read_text(encoding="utf-8").strip() == HEARD


async def test_transcribe_unknown_prompt_is_404(whisper_app: WhisperApp) -> None:
    async with whisper_app() as client:
        assert_envelope(await client.post("/audio_prompts/nobody/transcribe"), 404, "NOT_FOUND")


async def test_transcribe_without_whisper_is_503_and_keeps_the_transcript(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        await upload(client, "kept", transcript="Still here.")
        assert_envelope(await client.post("/audio_prompts/kept/transcribe"), 503, "WHISPER_NOT_AVAILABLE")
        stored = await metadata(client, "kept")
        assert (stored["transcript"], stored["transcript_source"]) == ("Still here.", "manual")


# --- automatic transcription -------------------------------------------------------------------


async def test_upload_without_transcript_is_transcribed(whisper_app: WhisperApp, data_dir: Path) -> None:
    async with whisper_app() as client:
        uploaded = await upload(client, "auto")
        assert (uploaded["transcript"], uploaded["transcript_source"]) == (HEARD, "whisper_auto")
        assert uploaded["warning"] is None
        assert (await metadata(client, "auto"))["transcript_source"] == "whisper_auto"
        assert (data_dir / "audio_prompts/auto.txt").read_text(encoding="utf-8").strip() == HEARD


async def test_upload_with_transcript_is_not_transcribed(whisper_app: WhisperApp) -> None:
    async with whisper_app() as client:
        uploaded = await upload(client, "given", transcript="My own words.")
        assert (uploaded["transcript"], uploaded["transcript_source"]) == ("My own words.", "manual")
        assert (await client.get("/whisper/status")).json()["model_loaded"] is False  # Whisper never ran


async def test_upload_with_broken_whisper_succeeds_with_a_warning(app_factory: AppFactory) -> None:
    async with app_factory(auto_transcribe=True) as client:  # the configured model file does not exist
        uploaded = await upload(client, "unheard")
        assert uploaded["transcript"] == ""
        assert uploaded["transcript_source"] == "none"
        assert isinstance(uploaded["warning"], str)
        assert "no-whisper.pt" in uploaded["warning"]
        assert (await metadata(client, "unheard"))["transcript"] == ""


async def test_auto_transcribe_follows_put_config_live(whisper_app: WhisperApp) -> None:
    async with whisper_app(auto_transcribe=False) as client:
        assert (await upload(client, "quiet"))["transcript"] == ""
        assert (await client.get("/whisper/status")).json()["auto_transcribe"] is False

        assert (await client.put("/config", json={"auto_transcribe": True})).status_code == 200

        assert (await client.get("/whisper/status")).json()["auto_transcribe"] is True
        assert (await upload(client, "heard"))["transcript"] == HEARD


async def test_discover_transcribes_new_files(whisper_app: WhisperApp, data_dir: Path) -> None:
    async with whisper_app(auto_discover_prompts=False) as client:
        (data_dir / "audio_prompts").mkdir(exist_ok=True)
        (data_dir / "audio_prompts/dropped.wav").write_bytes(CLIP)

        response = await client.post("/audio_prompts/discover", json={})

        assert response.status_code == 200, response.text
        (found,) = response.json()["discovered"]
        assert (found["prompt_id"], found["transcript"]) == ("dropped", HEARD)
        assert (await metadata(client, "dropped"))["transcript_source"] == "whisper_auto"


async def test_manual_transcript_survives_discovery_unless_forced(whisper_app: WhisperApp) -> None:
    async with whisper_app(auto_discover_prompts=False) as client:
        await upload(client, "voice")  # transcribed automatically
        put = await client.put("/audio_prompts/voice/transcript", json={"transcript": "Corrected by hand."})
        assert put.status_code == 200, put.text

        assert (await client.post("/audio_prompts/discover", json={})).status_code == 200
        kept = await metadata(client, "voice")
        assert (kept["transcript"], kept["transcript_source"]) == ("Corrected by hand.", "manual")

        forced = await client.post("/audio_prompts/discover", json={"force_retranscribe": True})
        assert forced.status_code == 200, forced.text
        redone = await metadata(client, "voice")
        assert (redone["transcript"], redone["transcript_source"]) == (HEARD, "whisper_auto")
