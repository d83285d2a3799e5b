"""Every error path answers in the one envelope, with the right status and code."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.conftest import AppFactory, make_settings
from tts_server.api.errors import envelope_response
from tts_server.api.routes import ApiRoute
from tts_server.app import create_app


def assert_envelope(response: httpx.Response, status: int, code: str, param: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code
    assert body["detail"] and body["detail"] == body["error"]["message"]
    assert body["error"]["code"] == code
    assert body["error"]["type"]
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    if param is not None:
        assert body["error"]["param"] == param
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"input": ""}, "VALIDATION_ERROR", "input"),
        ({"input": "   \n\t "}, "VALIDATION_ERROR", "input"),
        ({"input": "a" * 4097}, "TEXT_TOO_LONG", "input"),
        ({"input": "hi", "voice": "no-such-voice"}, "INVALID_VOICE_ID", "voice"),
        ({"input": "hi", "response_format": "ogg-vorbis"}, "INVALID_FORMAT", "response_format"),
        ({"input": "hi", "model": "gpt-5-voice"}, "INVALID_MODEL", "model"),
        ({"input": "[S1] (laughs)"}, "VALIDATION_ERROR", "input"),
    ],
)
async def test_invalid_speech_requests_are_400(
    client: httpx.AsyncClient, body: dict[str, object], code: str, param: str
) -> None:
    assert_envelope(await client.post("/v1/audio/speech", json=body), 400, code, param)


async def test_generate_errors_name_dia_fields(client: httpx.AsyncClient) -> None:
    assert_envelope(
        await client.post("/generate", json={"text": "hi", "voice_id": "ghost"}), 400, "INVALID_VOICE_ID", "voice_id"
    )
    assert_envelope(await client.post("/generate", json={"text": "x" * 5000}), 400, "TEXT_TOO_LONG", "text")


async def test_known_engine_not_loaded_is_503(client: httpx.AsyncClient) -> None:
    assert_envelope(
        await client.post("/v1/audio/speech", json={"input": "hi", "model": "dia"}), 503, "MODEL_NOT_LOADED"
    )


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"input": "hi",}', b"", b"\xff\xfe\x00garbage"],
)
async def test_malformed_json_is_an_envelope_not_a_500(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post("/v1/audio/speech", content=content, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422)
    assert response.json()["error_code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "body",
    [{}, {"input": 42, "voice": []}, {"input": "hi", "speed": 9}, {"input": "hi", "speed": "fast"}, [1, 2]],
)
async def test_body_of_wrong_shape_is_422(client: httpx.AsyncClient, body: object) -> None:
    assert_envelope(await client.post("/v1/audio/speech", json=body), 422, "VALIDATION_ERROR")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_envelope(await client.get("/v1/nothing-here"), 404, "NOT_FOUND")
    assert_envelope(await client.get("/v1/audio/speech"), 405, "METHOD_NOT_ALLOWED")


async def test_api_key_required_when_configured(app_factory: AppFactory) -> None:
    async with app_factory(api_key="s3cret") as client:
        body = {"input": "hello"}
        assert_envelope(await client.post("/v1/audio/speech", json=body), 401, "UNAUTHORIZED")
        wrong = await client.post("/v1/audio/speech", json=body, headers={"Authorization": "Bearer nope"})
        assert_envelope(wrong, 401, "UNAUTHORIZED")
        assert (
            await client.post("/v1/audio/speech", json=body, headers={"Authorization": "Bearer s3cret"})
        ).status_code == 200
        assert (await client.post("/v1/audio/speech", json=body, headers={"X-API-Key": "s3cret"})).status_code == 200
        assert_envelope(await client.get("/v1/voices"), 401, "UNAUTHORIZED")
        for open_path in ("/health", "/docs", "/redoc", "/openapi.json"):
            assert (await client.get(open_path)).status_code == 200, open_path


async def test_any_bearer_token_accepted_without_configured_key(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/audio/speech", json={"input": "hi"}, headers={"Authorization": "Bearer sk-anything"}
    )
    assert response.status_code == 200


async def test_cors_preflight_from_a_browser_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/audio/speech",
        headers={
            "Origin": "http://localhost:8000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://localhost:8000")


async def test_full_queue_answers_503_with_retry_after(
    app_factory: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tts_server.api.errors")
    long_text = "This sentence keeps the only worker busy for a while. " * 70
    async with app_factory(workers=1, max_queue=1) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/audio/speech", json={"input": long_text, "response_format": "pcm"}) for _ in range(6))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2
    refused = [r for r in responses if r.status_code == 503]
    assert refused, statuses
    for response in refused:
        assert_envelope(response, 503, "QUEUE_FULL")
        assert int(response.headers["retry-after"]) >= 1
    # "not now" is logged as a warning, once per refusal: ERROR is kept for faults
    assert [record.levelname for record in caplog.records] == ["WARNING"] * len(refused)


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    ok = await client.get("/v1/models")
    refused = await client.post("/v1/audio/speech", json={"input": ""})
    generated = [ok.headers["x-request-id"], refused.headers["x-request-id"]]
    assert all(len(value) == 16 and int(value, 16) >= 0 for value in generated)
    assert generated[0] != generated[1]
    assert len(ok.headers.get_list("x-request-id")) == 1


async def test_a_clients_request_id_is_kept_when_usable(client: httpx.AsyncClient) -> None:
    kept = await client.get("/v1/models", headers={"X-Request-ID": "trace-42"})
    assert kept.headers.get_list("x-request-id") == ["trace-42"]
    long = await client.get("/v1/models", headers={"X-Request-ID": "x" * 100})
    assert long.headers["x-request-id"] == "x" * 64
    replaced = await client.get("/v1/models", headers={"X-Request-ID": "bad\x7fid"})
    assert replaced.headers["x-request-id"] != "bad\x7fid" and len(replaced.headers["x-request-id"]) == 16


# An unpaired UTF-16 surrogate: json.loads takes it, but no UTF-8 encoder does. Each was a 500 somewhere
# (an engine worker, the database, or the error message echoing it); now the body is refused as invalid JSON.
LONE_SURROGATE = "\\ud800"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/audio/speech", f'{{"input": "hi {LONE_SURROGATE} there"}}'),
        ("POST", "/v1/audio/speech/extended", f'{{"input": "hi {LONE_SURROGATE}"}}'),
        ("POST", "/v1/audio/speech", f'{{"input": "hi", "voice": "x{LONE_SURROGATE}"}}'),
        ("POST", "/generate", f'{{"text": "[S1] hi {LONE_SURROGATE}"}}'),
        ("POST", "/v1/voice_mappings", f'{{"voice_id": "m1", "style": "s{LONE_SURROGATE}"}}'),
        ("PUT", "/audio_prompts/p1/transcript", f'{{"transcript": "hello {LONE_SURROGATE}"}}'),
        ("PUT", "/config", f'{{"debug_mode": "{LONE_SURROGATE}"}}'),
    ],
)
async def test_unpaired_surrogates_are_invalid_json(
    client: httpx.AsyncClient, method: str, path: str, body: str
) -> None:
    response = await client.request(method, path, content=body.encode(), headers={"content-type": "application/json"})
    message = assert_envelope(response, 400, "VALIDATION_ERROR")["detail"]
    assert (
        isinstance(message, str) and message.startswith("Request body is not valid JSON: ") and "surrogate" in message
    )
    assert (await client.get("/v1/voice_mappings")).json() == []  # nothing was stored


async def test_surrogates_encoded_as_raw_bytes_are_invalid_json_too(client: httpx.AsyncClient) -> None:
    body = b'{"input": "hi \xed\xa0\x80"}'  # U+D800 written as UTF-8 bytes, which json.loads also took
    response = await client.post("/v1/audio/speech", content=body, headers={"content-type": "application/json"})
    assert_envelope(response, 400, "VALIDATION_ERROR")


async def test_json_with_a_byte_order_mark_is_still_accepted(client: httpx.AsyncClient) -> None:
    # What Windows PowerShell 5 writes to a file for `curl -d @body.json`; json.loads reads it, and so do we.
    for path, field in (("/v1/audio/speech", "input"), ("/generate", "text")):
        body = f'\ufeff{{"{field}": "Hello there."}}'.encode()
        response = await client.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("audio/")


async def test_malformed_json_says_what_is_wrong(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/config", content=b'{"debug_mode": true,}', headers={"content-type": "application/json"}
    )
    assert assert_envelope(response, 400, "VALIDATION_ERROR")["detail"] == (
        "Request body is not valid JSON: Expecting property name enclosed in double quotes."
    )


def test_an_error_message_with_a_surrogate_still_renders() -> None:
    # Defence in depth: text from elsewhere (a file name, a library's message) may hold one.
    response = envelope_response(400, "VALIDATION_ERROR", "No voice 'a\ud800b'.", param="voice")
    assert json.loads(response.body)["detail"] == "No voice 'a\ud800b'."


def test_every_api_route_bounds_its_body_and_reads_json_strictly(data_dir: Path) -> None:
    routes = [route for route in create_app(make_settings(data_dir)).routes if isinstance(route, APIRoute)]
    assert len(routes) > 30
    assert [route.path for route in routes if not isinstance(route, ApiRoute)] == []


async def test_a_declared_oversized_body_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    pulled = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled = True
        yield b"{}"

    for method, path in (("POST", "/v1/audio/speech"), ("POST", "/v1/voice_mappings"), ("PUT", "/config")):
        headers = {"content-type": "application/json", "content-length": str(50 * 1024 * 1024)}
        response = await client.request(method, path, content=body(), headers=headers)
        detail = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")["detail"]
        assert detail == "The request body is 50 MB; the limit is 1.05 MB (it grows with TTS_MAX_INPUT_CHARS)."
    assert not pulled


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
async def test_an_oversized_chunked_body_is_cut_off_while_it_arrives(
    client: httpx.AsyncClient, content_type: str
) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # 25 MB of JSON whitespace, with no Content-Length
        nonlocal sent
        for _ in range(400):
            sent += 1
            yield b" " * 65_536

    response = await client.post("/v1/audio/speech", content=body(), headers={"content-type": content_type})
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert sent <= 18, sent  # the 1.05 MB limit is 17 chunks: nothing much beyond it was pulled
