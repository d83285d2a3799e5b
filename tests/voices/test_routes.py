"""The routes themselves: every Dia-view route also under /v1, all in the OpenAPI document, all behind the key."""

from __future__ import annotations

import httpx

from tests.conftest import AppFactory
from tests.voices.conftest import assert_error, upload_prompt, voice_wav

DIA_VIEW = {
    "/audio_prompts/upload": {"post"},
    "/audio_prompts": {"get"},
    "/audio_prompts/metadata": {"get"},
    "/audio_prompts/metadata/{prompt_id}": {"get"},
    "/audio_prompts/{prompt_id}": {"delete"},
    "/audio_prompts/discover": {"post"},
    "/audio_prompts/{prompt_id}/transcript": {"put"},
    "/voice_mappings": {"get", "post"},
    "/voice_mappings/{voice_id}": {"put", "delete"},
}
S1_VIEW = {"/v1/references/add": {"post"}, "/v1/references": {"get"}, "/v1/references/{voice_id}": {"delete"}}


async def test_every_route_is_in_the_openapi_document_at_both_prefixes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, methods in DIA_VIEW.items():
        for prefixed in (path, "/v1" + path):
            assert methods <= set(paths.get(prefixed, {})), prefixed
    for path, methods in S1_VIEW.items():
        assert methods <= set(paths[path]), path
    upload = paths["/audio_prompts/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"400", "413"} <= set(upload["responses"])
    array = paths["/v1/voice_mappings"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert array["type"] == "array"
    keyed = paths["/voice_mappings"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert keyed["type"] == "object"


async def test_the_library_needs_the_api_key_when_one_is_set(app_factory: AppFactory) -> None:
    async with app_factory(api_key="secret") as client:
        for method, path in (
            ("GET", "/audio_prompts"),
            ("GET", "/v1/audio_prompts/metadata"),
            ("GET", "/voice_mappings"),
            ("GET", "/v1/voice_mappings"),
            ("GET", "/v1/references"),
            ("DELETE", "/v1/references/anyone"),
        ):
            assert_error(await client.request(method, path), 401, "UNAUTHORIZED")
        assert_error(await upload_prompt(client, "sneaky", voice_wav()), 401, "UNAUTHORIZED")
        client.headers["Authorization"] = "Bearer secret"
        assert (await upload_prompt(client, "welcome", voice_wav(), prefix="/v1")).status_code == 200
        assert [p["prompt_id"] for p in (await client.get("/audio_prompts")).json()["audio_prompts"]] == ["welcome"]
