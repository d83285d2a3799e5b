"""Open WebUI's "OpenAI" text-to-speech engine, replayed request for request.

What Open WebUI does (backend/open_webui/routers/audio.py) when its TTS base URL is not OpenAI's:
- models: `requests.get(f"{base}/audio/models")`, no key; reads `data.get("models", [])` (objects with `id`,
  optionally `name`); on any failure it falls back to tts-1 / tts-1-hd.
- voices: `requests.get(f"{base}/audio/voices")`, no key; reads `{voice["id"]: voice["name"] for voice in
  data.get("voices", [])}`; on any failure it falls back to alloy, echo, fable, onyx, nova, shimmer.
- speech: the browser sends `{input, voice}`; the backend sets `model` to the configured model, merges the
  admin's extra parameters (TTS_OPENAI_PARAMS) and POSTs JSON to `{base}/audio/speech` with
  `Authorization: Bearer <TTS_OPENAI_API_KEY>`, then reads `res["error"]` from a failed answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import AppFactory
from tests.support.audio import decode_bytes
from tests.support.speech_check import pick_spoken_sentence
from tests.voices.conftest import add_reference, voice_wav

BASE = "/v1"  # Open WebUI's "API Base URL": http://host:7860/v1
SENTENCES = [
    "Please bring me a glass of cold water.",
    "We will meet at the train station tomorrow morning.",
    "The children played in the garden all afternoon.",
]


class OpenWebUI:
    """The requests Open WebUI's backend makes, with the headers its HTTP libraries send."""

    def __init__(self, client: httpx.AsyncClient, key: str = "", params: dict[str, Any] | None = None) -> None:
        self.client, self.key, self.params = client, key, params

    async def models(self) -> list[dict[str, Any]]:
        response = await self.client.get(f"{BASE}/audio/models", headers={"Accept": "*/*"})
        response.raise_for_status()  # Open WebUI would fall back to tts-1 / tts-1-hd here
        models: list[dict[str, Any]] = response.json().get("models", [])
        return models

    async def voices(self) -> dict[str, str]:
        response = await self.client.get(f"{BASE}/audio/voices", headers={"Accept": "*/*"})
        response.raise_for_status()
        return {voice["id"]: voice["name"] for voice in response.json().get("voices", [])}

    async def speech(self, text: str, voice: str, model: str) -> httpx.Response:
        payload: dict[str, Any] = {"input": text, "voice": voice}  # what the browser sends
        payload["model"] = model
        payload = {**payload, **(self.params or {})}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"}
        return await self.client.post(f"{BASE}/audio/speech", json=payload, headers=headers)


async def test_model_and_voice_lists_fill_and_speech_plays(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        webui = OpenWebUI(client)
        models = await webui.models()
        ids = [model["id"] for model in models]
        assert "espeak" in ids and {"tts-1", "tts-1-hd"} <= set(ids)
        assert all(model["name"] for model in models)
        voices = await webui.voices()
        listed = (await client.get("/v1/voices")).json()["voices"]
        assert list(voices) == [voice["voice_id"] for voice in listed]  # every voice, under the same ids
        assert {"default", "alloy", "nova", "de"} <= set(voices) and voices["alloy"] == "Alloy"

        for sentence in SENTENCES:
            response = await webui.speech(sentence, "default", "espeak")
            assert response.status_code == 200, response.text
            decoded = decode_bytes(response.content)  # Open WebUI caches the bytes as they come and serves them
            assert decoded.duration > 1.0
            assert pick_spoken_sentence(decoded.samples, decoded.sample_rate, SENTENCES) == sentence


async def test_the_admins_extra_parameters_reach_the_server(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        webui = OpenWebUI(client, params={"response_format": "mp3", "speed": 1.5})
        response = await webui.speech(SENTENCES[0], "alloy", "tts-1")
    assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
    assert decode_bytes(response.content).codec.startswith("mp3")


async def test_errors_are_read_from_the_error_object(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        response = await OpenWebUI(client).speech("Hello.", "nobody", "tts-1")
    assert response.status_code == 400
    error = response.json()["error"]  # Open WebUI shows f"External: {res['error'].get('message', '')}"
    assert "nobody" in error["message"]


async def test_with_an_api_key_the_lists_still_fill_and_the_library_stays_private(app_factory: AppFactory) -> None:
    async with app_factory(api_key="sesame") as client:
        keyed = {"Authorization": "Bearer sesame"}
        upload = await client.post(
            "/v1/references/add",
            data={"id": "grandma", "text": "A private recording of grandma."},
            files={"audio": ("grandma.wav", voice_wav(seconds=2.0), "audio/wav")},
            headers=keyed,
        )
        assert upload.status_code == 200, upload.text
        webui = OpenWebUI(client, key="sesame")
        assert "espeak" in [model["id"] for model in await webui.models()]
        voices = await webui.voices()  # asked without the key, as Open WebUI does
        assert {"default", "alloy"} <= set(voices) and "grandma" not in voices
        with_key = (await client.get(f"{BASE}/audio/voices", headers=keyed)).json()["voices"]
        assert "grandma" in [voice["id"] for voice in with_key]
        assert (await webui.speech(SENTENCES[1], "grandma", "tts-1")).status_code == 200
        refused = await OpenWebUI(client, key="wrong").speech(SENTENCES[1], "alloy", "tts-1")
        assert refused.status_code == 401 and refused.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/voices", "/voices", "/v1/audio/voices"])
async def test_documented_listing_shapes_keep_their_fields(client: httpx.AsyncClient, path: str) -> None:
    """S1-mini's {voices: [{voice_id, name, description}]} and the Dia server's; `id` is only added."""
    await add_reference(client, "narrator", voice_wav(seconds=2.0), text="Hello from the narrator.")
    voices = (await client.get(path)).json()["voices"]
    assert all({"voice_id", "name", "description", "id"} <= set(voice) for voice in voices)
    assert all(voice["id"] == voice["voice_id"] for voice in voices)
    assert "narrator" in [voice["voice_id"] for voice in voices]
