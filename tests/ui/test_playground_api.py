"""What the playground reads from the API besides the speech routes: each engine's capabilities in /v1/models,
the voices of a named engine, /generate on a chosen engine, and a stored voice's audio to listen to."""

from __future__ import annotations

import httpx

from tests.conftest import AppFactory
from tests.store.conftest import voice_wav
from tests.support.audio import decode_bytes
from tests.voices.conftest import upload_prompt


async def test_models_carry_each_engines_capabilities(client: httpx.AsyncClient) -> None:
    cards = {card["id"]: card for card in (await client.get("/v1/models")).json()["data"]}
    espeak = cards["espeak"]
    assert espeak["engine"] == "espeak" and espeak["ready"] is True
    assert espeak["name"] and espeak["object"] == "model"  # OpenAI's fields stay
    assert espeak["capabilities"] == {
        "streaming": True,
        "cloning": "approximate",
        "speaker_tags": False,
        "sampling_params": [],  # the built-in engine does not sample: the page shows no sampling control
    }
    for alias in ("default", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"):
        assert cards[alias]["engine"] == "espeak"  # an alias names the engine it runs on
        assert cards[alias]["capabilities"] == espeak["capabilities"]


async def test_voices_of_a_named_engine(client: httpx.AsyncClient) -> None:
    default = (await client.get("/v1/voices")).json()
    named = await client.get("/v1/voices", params={"engine": "espeak"})
    assert named.status_code == 200 and named.json() == default
    assert {voice["engine"] for voice in default["voices"]} == {"espeak"}

    unknown = await client.get("/v1/voices", params={"engine": "nope"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "INVALID_MODEL" and unknown.json()["error"]["param"] == "engine"
    not_loaded = await client.get("/v1/voices", params={"engine": "dia"})
    assert not_loaded.status_code == 503 and not_loaded.json()["error_code"] == "MODEL_NOT_LOADED"


async def test_generate_runs_on_the_engine_named_by_model(client: httpx.AsyncClient) -> None:
    spoken = await client.post("/generate", json={"text": "Hello there.", "model": "espeak", "voice_id": "default"})
    assert spoken.status_code == 200 and spoken.headers["X-TTS-Engine"] == "espeak"
    assert decode_bytes(spoken.content).duration > 0.3

    not_loaded = await client.post("/generate", json={"text": "Hello.", "model": "dia", "voice_id": "default"})
    assert not_loaded.status_code == 503 and not_loaded.json()["error_code"] == "MODEL_NOT_LOADED"
    queued = await client.post("/generate?async_mode=true", json={"text": "Hello.", "model": "dia"})
    assert queued.status_code == 503  # refused at submission, not after a poll
    unknown = await client.post("/generate", json={"text": "Hello.", "model": "nope"})
    assert unknown.status_code == 400 and unknown.json()["error_code"] == "INVALID_MODEL"


async def test_generate_accepts_a_repetition_penalty_in_range(client: httpx.AsyncClient) -> None:
    body = {"text": "Hello.", "voice_id": "default", "repetition_penalty": 1.2}
    assert (await client.post("/generate", json=body)).status_code == 200
    too_high = await client.post("/generate", json=body | {"repetition_penalty": 5})
    assert too_high.status_code in (400, 422) and "repetition_penalty" in too_high.text


async def test_a_stored_voice_can_be_listened_to(client: httpx.AsyncClient) -> None:
    assert (await upload_prompt(client, "anna", voice_wav(seconds=2.5, rate=16_000))).status_code == 200
    for prefix in ("", "/v1"):
        response = await client.get(f"{prefix}/audio_prompts/anna/audio")
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        assert abs(decode_bytes(response.content).duration - 2.5) < 0.05

    assert (await client.delete("/audio_prompts/anna")).status_code == 200
    gone = await client.get("/audio_prompts/anna/audio")
    assert gone.status_code == 404 and gone.json()["error_code"] == "NOT_FOUND"
    assert (await client.get("/audio_prompts/..%2Fetc/audio")).status_code in (400, 404)


async def test_listening_to_a_voice_needs_the_key(app_factory: AppFactory) -> None:
    async with app_factory(api_key="k") as client:
        assert (await upload_prompt(client, "anna", voice_wav())).status_code == 401
        denied = await client.get("/audio_prompts/anna/audio")
        assert denied.status_code == 401
