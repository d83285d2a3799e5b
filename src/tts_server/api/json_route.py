"""A route class for the hot JSON endpoints: a valid body reaches the endpoint without FastAPI's
per-request dependency solving.

FastAPI re-resolves an endpoint's parameters on every request: read the body, json.loads, validate
through a TypeAdapter, solve each dependency. For the speech routes that was ~65 us in-process, half of
the framework's share of a one-sentence request (bench/latency_breakdown.py). Here pydantic-core parses
and validates the raw bytes in one pass. Only the common case takes that path, an application/json body
that validates; anything else (another content type, malformed JSON, a body of the wrong shape) goes
through FastAPI's own handler, so every error is exactly FastAPI's. The schema is FastAPI's too, built
from the same signature.

Every API route reads JSON strictly (`StrictJsonRoute`): FastAPI decodes bodies with json.loads, which
accepts unpaired UTF-16 surrogates ("\\ud800"), text that no UTF-8 encoder takes; it then failed as a 500
wherever it went (the database, an engine, an error message echoing it). pydantic's parser refuses them,
as I-JSON (RFC 7493) asks, and so the routes refuse such a body as invalid JSON before FastAPI reads it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class StrictJsonRoute(APIRoute):
    """Refuses a JSON body whose strings hold unpaired surrogates, as FastAPI refuses malformed JSON: a
    json_invalid validation error (400 in the error envelope). Every other body reaches FastAPI untouched."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if _is_json_family(request.headers.get("content-type")):
                refuse_unpaired_surrogates(await request.body())  # cached: FastAPI reads it again for free
            return await standard(request)

        return handler


def refuse_unpaired_surrogates(data: bytes) -> None:
    """RequestValidationError (json_invalid) if `data` is JSON that json.loads reads into a string holding an
    unpaired surrogate. Strict parsing (pydantic's) settles the common case in one pass; only a body it refuses
    is read again the lenient way, so malformed JSON keeps FastAPI's own error and deep nesting still passes."""
    if not data:
        return
    try:
        from_json(data.decode(json.detect_encoding(data)))  # decoded as json.loads decodes (a BOM, UTF-16/32)
        return
    except ValueError as exc:  # UnicodeDecodeError is one too: surrogates written as UTF-8 bytes
        strict_error = exc
    try:
        json.dumps(json.loads(data), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        error = {
            "type": "json_invalid",
            "loc": ("body",),
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": f"a string holds an unpaired UTF-16 surrogate, \\ud800-\\udfff ({strict_error})"},
        }
        raise RequestValidationError([error]) from None
    except (ValueError, RecursionError):
        return  # malformed (or too deep) for json.loads too: FastAPI says how


class JsonBodyRoute(StrictJsonRoute):
    """For endpoints shaped `async def endpoint(body: SomeModel, request: Request) -> Response`."""

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        model, endpoint = _body_model(self.endpoint), self.endpoint

        async def handler(request: Request) -> Response:
            if not _is_json(request.headers.get("content-type")):
                return await standard(request)
            try:
                body = model.model_validate_json(await request.body())
            except ValidationError:
                return await standard(request)  # the body is cached on the request: parsed again, not read
            response: Response = await endpoint(body, request)
            return response

        return handler


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.partition(";")[0].strip().lower() == "application/json"


def _is_json_family(content_type: str | None) -> bool:
    """The content types FastAPI decodes as JSON: application/json and application/*+json."""
    if content_type is None:
        return False
    kind, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _body_model(endpoint: Callable[..., Any]) -> type[BaseModel]:
    """The endpoint's body model; refuses any other signature (its other parameters would go unfilled)."""
    hints = get_type_hints(endpoint)
    parameters = list(inspect.signature(endpoint).parameters)
    model = hints.get(parameters[0]) if len(parameters) == 2 else None
    if (
        isinstance(model, type)
        and issubclass(model, BaseModel)
        and hints.get(parameters[1]) is Request
        and inspect.iscoroutinefunction(endpoint)
    ):
        return model
    raise TypeError(f"{endpoint.__name__}: JsonBodyRoute needs async (body: <a pydantic model>, request: Request)")
