"""A restarted server on the same data dir keeps every voice, prompt, transcript and mapping."""

from __future__ import annotations

from tests.conftest import AppFactory
from tests.voices.conftest import add_reference, speak_wav, upload_prompt, voice_wav


async def test_everything_survives_a_restart(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        assert (await add_reference(client, "ref_voice", voice_wav(), text="A reference.")).status_code == 200
        assert (await upload_prompt(client, "prompt_voice", voice_wav(seconds=3.0))).status_code == 200
        put = await client.put("/audio_prompts/prompt_voice/transcript", json={"transcript": "Set by hand."})
        assert put.status_code == 200
        for body in (
            {"voice_id": "mapped", "style": "calm", "primary_speaker": "S2", "audio_prompt": "prompt_voice"},
            {"voice_id": "seeded", "style": "seed_based", "voice_seed": 99},
        ):
            assert (await client.post("/voice_mappings", json=body)).status_code == 200
        before = {
            "references": (await client.get("/v1/references")).json(),
            "metadata": (await client.get("/audio_prompts/metadata")).json(),
            "mappings": (await client.get("/voice_mappings")).json(),
            "voices": (await client.get("/v1/voices")).json(),
        }

    async with app_factory() as client:
        after = {
            "references": (await client.get("/v1/references")).json(),
            "metadata": (await client.get("/audio_prompts/metadata")).json(),
            "mappings": (await client.get("/voice_mappings")).json(),
            "voices": (await client.get("/v1/voices")).json(),
        }
        assert after == before
        assert before["mappings"]["mapped"]["primary_speaker"] == "S2"
        for voice in ("ref_voice", "prompt_voice", "mapped", "seeded"):
            await speak_wav(client, voice)
