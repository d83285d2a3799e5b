"""The access gate: every route but the public ones needs the key, refusals come before the body is read,
and the rate-limit class of each route is in the schema."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import AppFactory, make_settings, uvicorn_server

PUBLIC = {"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
# Open WebUI reads these without its key; the voice listing then shows built-in voices only (tests/api/test_open_webui.py).
PUBLIC |= {"/v1/audio/models", "/v1/audio/voices"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, concrete path) for every operation, path parameters filled with a harmless id."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    ]


async def test_every_route_but_the_public_ones_needs_the_key(app_factory: AppFactory) -> None:
    async with app_factory(api_key="sesame") as client:
        operations = _operations((await client.get("/openapi.json")).json())
        assert len(operations) > 30
        for method, path in operations:
            response = await client.request(method, path)
            if path in PUBLIC:
                assert response.status_code == 200, path
                continue
            assert response.status_code == 401, (method, path)
            assert response.json()["error_code"] == "UNAUTHORIZED"
            assert response.headers["WWW-Authenticate"] == "Bearer"
            keyed = await client.request(method, path, headers={"X-API-Key": "sesame"})
            assert keyed.status_code != 401, (method, path)
        for page in ("/", "/ui/index.html"):  # the playground asks for the key itself
            assert (await client.get(page)).status_code == 200
        assert (await client.get("/no/such/route")).status_code == 401  # nothing to learn without the key


async def test_refusals_carry_cors_headers_for_browsers(app_factory: AppFactory) -> None:
    async with app_factory(api_key="sesame") as client:
        refused = await client.get("/v1/voices", headers={"Origin": "http://localhost:8000"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "*"
        preflight = await client.options(
            "/v1/audio/speech",
            headers={"Origin": "http://localhost:8000", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200  # a preflight carries no key and must not need one


def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(tmp_path: Path) -> None:
    """Announce 50 MB, send 1 KB: the 401 must come without the server waiting for (or spooling) the rest."""
    with uvicorn_server(make_settings(tmp_path, api_key="sesame")) as server:
        host, port = server.url.removeprefix("http://").split(":")
        head = (
            "POST /audio_prompts/upload HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {50 * 2**20}\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head.encode() + b"--b\r\n" + b"x" * 1024)
            answer = sock.recv(65536).decode("latin-1")
        assert answer.startswith("HTTP/1.1 401"), answer[:200]
        assert "UNAUTHORIZED" in answer


async def test_each_route_documents_its_rate_limit_class(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert paths["/v1/audio/speech"]["post"]["x-rate-limit"] == "generate"
    assert paths["/generate"]["post"]["x-rate-limit"] == "generate"
    assert paths["/jobs/{job_id}/result"]["get"]["x-rate-limit"] == "jobs"
    assert paths["/v1/audio_prompts/upload"]["post"]["x-rate-limit"] == "upload"
    assert "x-rate-limit" not in paths["/v1/voices"]["get"]
