"""The voice library with the neural engine: a tiny random Dia (real loading code, CPU) speaks reference
voices, prompt mappings and seed mappings resolved by the server. Random weights say nothing; the test is
that every kind of voice reaches the engine and comes back as audio."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.engines.dia.tiny_models import TinyDiaFolders, save_tiny_dia
from tests.support.audio import decode_bytes
from tests.voices.conftest import RunApp, add_reference, upload_prompt, voice_wav


@pytest.fixture(scope="module")
def tiny_dia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyDiaFolders]:
    """Offline, and one torch thread: a tiny model gains nothing from more, and a busy machine punishes them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield save_tiny_dia(tmp_path_factory.mktemp("tiny-dia"))
    torch.set_num_threads(threads)


async def _generate(client: httpx.AsyncClient, voice_id: str, **extra: object) -> float:
    body = {"text": "[S1] Hello there.", "voice_id": voice_id, "max_tokens": 100, "seed": 1, **extra}
    response = await client.post("/generate", json=body)
    assert response.status_code == 200, response.text
    return decode_bytes(response.content).duration


async def test_every_kind_of_voice_reaches_dia(run_app: RunApp, tiny_dia: TinyDiaFolders) -> None:
    settings = {
        "provider": "dia",
        "dia_model": str(tiny_dia.model),
        "dia_codec": str(tiny_dia.codec),
        "device": "cpu",
        "dia_max_batch": 2,
        "workers": 1,
    }
    async with run_app(**settings) as app:
        client = app.client
        assert (await add_reference(client, "ref", voice_wav(seconds=1.5), text="[S1] A reference.")).status_code == 200
        assert (await upload_prompt(client, "prompt", voice_wav(seconds=1.5, f0=220))).status_code == 200
        for mapping in (
            {
                "voice_id": "cloned",
                "audio_prompt": "prompt",
                "audio_prompt_transcript": "Some words.",
                "primary_speaker": "S2",
            },
            {"voice_id": "seeded", "style": "seed_based", "voice_seed": 42},
        ):
            assert (await client.post("/voice_mappings", json=mapping)).status_code == 200

        listed = {voice["voice_id"]: voice for voice in (await client.get("/v1/voices")).json()["voices"]}
        assert listed["ref"]["cloning"] == "full" and listed["ref"]["engine"] == "dia"

        untranscribed = await client.post("/generate", json={"text": "Hi.", "voice_id": "prompt", "max_tokens": 100})
        assert untranscribed.status_code == 400
        assert "no transcript" in untranscribed.json()["detail"]
        # "cloned" speaks although its prompt has no transcript of its own: the mapping's reaches Dia
        for voice_id in ("ref", "cloned", "seeded", "aria"):
            assert await _generate(client, voice_id, role="user") > 0.1
