"""The playground page: served without a key, its files carry the right types, its JS calls real routes."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import AppFactory
from tts_server.api.ui import WEB_DIR

# api.js names every request the page makes as a literal "METHOD /path" string (see its ENDPOINTS).
_ENDPOINT = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (/[^"\s]*)"')
_IMPORT = re.compile(r'from "\./([\w-]+\.js)"')


async def _scripts(client: httpx.AsyncClient) -> dict[str, str]:
    """Every module the page loads, fetched through the server: app.js and what it imports, transitively."""
    found: dict[str, str] = {}
    pending = ["app.js"]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        response = await client.get(f"/ui/{name}")
        assert response.status_code == 200, name
        found[name] = response.text
        pending.extend(_IMPORT.findall(response.text))
    return found


async def test_root_serves_the_page_that_loads_the_script(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/ui/app.js"' in response.text
    assert 'rel="icon" href="/ui/favicon.svg"' in response.text  # no request for a missing /favicon.ico
    assert 'href="/ui/style.css"' in response.text
    assert "http://" not in response.text and "https://" not in response.text  # nothing from the internet


async def test_static_files_carry_script_and_style_types(client: httpx.AsyncClient) -> None:
    script = await client.get("/ui/app.js")
    style = await client.get("/ui/style.css")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    icon = await client.get("/ui/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert (await client.get("/ui/missing.js")).status_code == 404


async def test_every_shipped_script_is_loaded_by_the_page(client: httpx.AsyncClient) -> None:
    loaded = set(await _scripts(client))
    shipped = {path.name for path in WEB_DIR.glob("*.js")}
    assert loaded == shipped, "a module nobody imports, or an import of a file that is not shipped"


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
    scripts = await _scripts(client)
    paths = (await client.get("/openapi.json")).json()["paths"]
    endpoints = set(_ENDPOINT.findall(scripts["api.js"]))
    assert {("GET", "/health"), ("GET", "/v1/models"), ("GET", "/v1/voices"), ("POST", "/generate")} <= endpoints
    assert {("POST", "/audio_prompts/upload"), ("GET", "/audio_prompts/{prompt_id}/audio")} <= endpoints
    for method, path in endpoints:
        assert method.lower() in paths.get(path, {}), f"api.js calls {method} {path}, which the API does not serve"
    everything = "\n".join(scripts.values())
    assert everything.count("fetch(") == 1, "every request must go through the one helper that uses ENDPOINTS"
    assert "http://" not in everything and "https://" not in everything


def _form_fields(page: str, form_id: str) -> set[str]:
    start = page.index(f'id="{form_id}"')
    return set(re.findall(r'name="([a-z_]+)"', page[start : page.index("</form>", start)]))


def _body_fields(schema: dict[str, Any], path: str, media_type: str) -> set[str]:
    body = schema["paths"][path]["post"]["requestBody"]["content"][media_type]
    name = body["schema"]["$ref"].rsplit("/", 1)[-1]
    return set(schema["components"]["schemas"][name]["properties"])


async def test_upload_form_fields_match_the_upload_route(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    schema = (await client.get("/openapi.json")).json()
    fields = _body_fields(schema, "/audio_prompts/upload", "multipart/form-data")
    assert _form_fields(page, "upload-form") == fields == {"prompt_id", "audio_file", "transcript"}


async def test_mapping_form_fields_are_fields_of_the_mapping_route(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    schema = (await client.get("/openapi.json")).json()
    form = _form_fields(page, "mapping-form")
    assert form == {"voice_id", "audio_prompt", "style", "primary_speaker", "voice_seed"}
    assert form <= _body_fields(schema, "/voice_mappings", "application/json")
