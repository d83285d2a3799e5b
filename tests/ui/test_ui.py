"""The playground page: served without a key, its files carry the right types, its JS calls real routes."""

from __future__ import annotations

import re

import httpx

from tests.conftest import AppFactory

# app.js names every request it makes as a literal "METHOD /path" string (see its ENDPOINTS).
_ENDPOINT = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (/[^"\s]*)"')


async def test_root_serves_the_page_that_loads_the_script(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/app.js"' in response.text
    assert 'href="/ui/style.css"' in response.text
    assert "http://" not in response.text and "https://" not in response.text  # nothing from the internet


async def test_static_files_carry_script_and_style_types(client: httpx.AsyncClient) -> None:
    script = await client.get("/ui/app.js")
    style = await client.get("/ui/style.css")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert (await client.get("/ui/missing.js")).status_code == 404


async def test_page_loads_without_the_key_the_api_demands(app_factory: AppFactory) -> None:
    async with app_factory(api_key="k") as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/ui/app.js")).status_code == 200
        denied = await client.get("/v1/voices")
        assert denied.status_code == 401
        assert denied.json()["error_code"] == "UNAUTHORIZED"
        allowed = await client.get("/v1/voices", headers={"Authorization": "Bearer k"})
        assert allowed.status_code == 200


async def test_page_routes_stay_out_of_the_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/" not in paths
    assert not [path for path in paths if path.startswith("/ui")]


async def test_every_request_the_script_makes_is_a_documented_route(client: httpx.AsyncClient) -> None:
    script = (await client.get("/ui/app.js")).text
    paths = (await client.get("/openapi.json")).json()["paths"]
    endpoints = set(_ENDPOINT.findall(script))
    assert {("GET", "/health"), ("GET", "/v1/voices"), ("POST", "/v1/audio/speech")} <= endpoints
    assert ("POST", "/audio_prompts/upload") in endpoints
    for method, path in endpoints:
        assert method.lower() in paths.get(path, {}), f"app.js calls {method} {path}, which the API does not serve"
    assert script.count("fetch(") == 1, "every request must go through the one helper that uses ENDPOINTS"
    assert "http://" not in script and "https://" not in script


async def test_upload_form_fields_match_the_upload_route(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    schema = (await client.get("/openapi.json")).json()
    body_ref = schema["paths"]["/audio_prompts/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    name = body_ref["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = set(schema["components"]["schemas"][name]["properties"])
    form_names = set(re.findall(r'name="([a-z_]+)"', page[page.index('id="upload-form"') :]))
    assert form_names == fields == {"prompt_id", "audio_file", "transcript"}
