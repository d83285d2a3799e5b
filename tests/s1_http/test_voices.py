"""Cloning through S1-mini: reference voices, audio prompts behind voice mappings, seed mappings, the listing."""

from __future__ import annotations

import httpx
import pytest

from tests.s1_http.conftest import RequestSpy, S1App, samples_for
from tests.store.conftest import voice_wav
from tests.support.audio import decode_bytes
from tests.voices.conftest import add_reference, upload_prompt
from tts_server.engines.s1.voices import model_fingerprint

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def speak(client: httpx.AsyncClient, voice: str, **extra: object) -> bytes:
    body = {"input": "A new sentence in the cloned voice.", "voice": voice, "seed": 1, **extra}
    response = await client.post("/v1/audio/speech/extended", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-tts-engine"] == "s1-mini"
    return response.content


async def test_reference_voice_is_encoded_once_and_clones(s1_shared: S1App) -> None:
    added = await add_reference(s1_shared.client, "anna", voice_wav(seconds=1.5), text="The reference words.")
    assert added.status_code == 200, added.text
    with RequestSpy(s1_shared.runner) as spy:
        cloned = await speak(s1_shared.client, "anna")
        again = await speak(s1_shared.client, "anna")
    reference = spy.last.voice.reference
    assert reference is not None and reference.voice_id == "anna" and reference.transcript == "The reference words."
    engine = s1_shared.runner._engine
    assert engine is not None and engine.references.encodings == 1  # codes cached by content hash
    assert cloned == again and len(decode_bytes(cloned).samples) == samples_for(1)
    assert cloned != await speak(s1_shared.client, "default")  # the reference changes the voice


async def test_audio_prompt_through_a_voice_mapping_uses_the_mappings_transcript(s1_shared: S1App) -> None:
    uploaded = await upload_prompt(
        s1_shared.client, "host_prompt", voice_wav(seconds=2.0, f0=200), transcript="Hi there."
    )
    assert uploaded.status_code == 200, uploaded.text
    mapping = {"voice_id": "host", "style": "calm", "audio_prompt": "host_prompt", "audio_prompt_transcript": "Hello."}
    assert (await s1_shared.client.post("/voice_mappings", json=mapping)).status_code == 200
    with RequestSpy(s1_shared.runner) as spy:
        response = await s1_shared.client.post("/generate", json={"text": "Welcome to the show.", "voice_id": "host"})
    assert response.status_code == 200, response.text
    reference = spy.last.voice.reference
    assert reference is not None and reference.voice_id == "host_prompt" and reference.transcript == "Hello."
    assert len(decode_bytes(response.content).samples) == samples_for(1)


async def test_seed_mapping_is_a_kept_voice_of_its_own(s1_shared: S1App) -> None:
    mapping = {"voice_id": "seeded", "style": "seed_based", "voice_seed": 42}
    assert (await s1_shared.client.post("/voice_mappings", json=mapping)).status_code == 200
    seeded = await speak(s1_shared.client, "seeded")
    assert seeded == await speak(s1_shared.client, "seeded") and seeded != await speak(s1_shared.client, "default")
    engine = s1_shared.runner._engine
    assert engine is not None
    kept_in = s1_shared.runner._voice_dir / model_fingerprint(engine.bundle.path)  # type: ignore[operator]
    assert engine.kept_voices.get(42) is not None and (kept_in / "seed-42.npz").is_file()


async def test_voice_listing_says_what_s1_voices_are(s1_shared: S1App) -> None:
    entries = (await s1_shared.client.get("/v1/voices")).json()["voices"]
    builtin = {entry["voice_id"]: entry for entry in entries if entry.get("type") == "builtin"}
    assert {"default", "alloy", "aria"} <= set(builtin)
    assert all(builtin[name]["engine"] == "s1-mini" for name in ("default", "alloy", "aria"))
    assert builtin["en-gb"]["engine"] == "espeak"  # a voice only espeak has is listed as espeak's
    assert "kept as its prompt" in builtin["alloy"]["description"]
