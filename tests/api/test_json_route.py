"""JsonBodyRoute answers exactly as the app's other routes (ApiRoute) would, for any body: it only skips
the work. ApiRoute answers as FastAPI's own route does, except that it refuses unpaired surrogates."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient

from tts_server.api.json_route import JsonBodyRoute
from tts_server.api.routes import ApiRoute
from tts_server.schemas.speech import ExtendedSpeechRequest
from tts_server.settings import Settings

FIELDS = [*ExtendedSpeechRequest.model_fields, "unknown"]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", None]


async def echo(body: ExtendedSpeechRequest, request: Request) -> Response:
    """What the endpoint saw: the values and which fields the client set."""
    return JSONResponse({"values": body.model_dump(mode="json"), "set": sorted(body.model_fields_set)})


def _app() -> FastAPI:
    app = FastAPI()
    app.state.tts = SimpleNamespace(settings=Settings(_env_file=None))  # what ApiRoute reads its body limit from
    for path, route_class in (("/fast", JsonBodyRoute), ("/standard", ApiRoute), ("/fastapi", APIRoute)):
        router = APIRouter(route_class=route_class)
        router.add_api_route(path, echo, methods=["POST"])
        app.include_router(router)
    return app


CLIENT = TestClient(_app(), raise_server_exceptions=False)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)
field_values = st.sampled_from(["hello", "", "wav", "sse", "audio", "1.5", "true", "16000"]) | json_values
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=6).map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
)


def post(path: str, body: bytes, content_type: str | None) -> tuple[int, str]:
    headers = {"content-type": content_type} if content_type else {}
    response = CLIENT.post(path, content=body, headers=headers)
    return response.status_code, response.text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES))
def test_any_body_gets_the_answer_fastapi_gives(body: bytes, content_type: str | None) -> None:
    assert post("/fast", body, content_type) == post("/standard", body, content_type)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES))
def test_strict_routes_answer_as_fastapi_does(body: bytes, content_type: str | None) -> None:
    status, text = post("/standard", body, content_type)
    if status == 422 and "unpaired UTF-16 surrogate" in text:  # the one difference, checked below
        assert json.loads(body) is not None and post("/fastapi", body, content_type)[0] == 500
    else:
        assert (status, text) == post("/fastapi", body, content_type)


@pytest.mark.parametrize("body", [b'{"input": "a \\ud800 b"}', b'{"input": "\\udfff"}', b'{"input": "\xed\xa0\x80"}'])
def test_strict_routes_refuse_unpaired_surrogates(body: bytes) -> None:
    assert post("/fastapi", body, "application/json")[0] == 500  # echoing it back cannot be encoded
    for path in ("/standard", "/fast"):
        status, text = post(path, body, "application/json")
        assert status == 422 and json.loads(text)["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("depth", [300, 5000])  # past pydantic's nesting limit; past json.loads' recursion limit
def test_deep_nesting_gets_fastapis_answer(depth: int) -> None:
    body = b'{"input": "hi", "unknown": ' + b"[" * depth + b"]" * depth + b"}"
    assert post("/standard", body, "application/json") == post("/fastapi", body, "application/json")


def test_paired_surrogates_are_fine() -> None:
    status, text = post("/fast", b'{"input": "\\ud83d\\ude00"}', "application/json")
    assert status == 200 and json.loads(text)["values"]["input"] == "\U0001f600"


@pytest.mark.parametrize(
    "body",
    [
        {"input": "Hello.", "speed": "1.5", "stream": "true", "sample_rate": 16000.0},
        {"input": "Hello.", "temperature": 0.5, "seed": 7, "unknown": [1, 2]},
        {"input": "Hello.", "speed": 9},
        {"speed": 1.0},
    ],
)
def test_examples_of_valid_and_invalid_bodies(body: dict[str, Any]) -> None:
    encoded = json.dumps(body).encode()
    assert post("/fast", encoded, "application/json") == post("/standard", encoded, "application/json")


def test_other_signatures_are_refused_when_the_route_is_made() -> None:
    async def takes_a_query(body: ExtendedSpeechRequest, request: Request, limit: int = 3) -> Response:
        return Response()

    with pytest.raises(TypeError, match="JsonBodyRoute needs"):
        APIRouter(route_class=JsonBodyRoute).add_api_route("/x", takes_a_query, methods=["POST"])
