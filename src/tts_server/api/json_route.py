"""A route class for the hot JSON endpoints: a valid body reaches the endpoint without FastAPI's
per-request dependency solving.

FastAPI re-resolves an endpoint's parameters on every request: read the body, json.loads, validate
through a TypeAdapter, solve each dependency. For the speech routes that was ~65 us in-process, half of
the framework's share of a one-sentence request (bench/latency_breakdown.py). Here pydantic-core parses
and validates the raw bytes in one pass. Only the common case takes that path, an application/json body
that validates; anything else (another content type, malformed JSON, a body of the wrong shape) goes
through the standard handler (the strict-JSON check, then FastAPI's own), so every error is the one the
app's other routes give. The schema is FastAPI's too, built from the same signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tts_server.api.routes import ApiRoute, Handler


class JsonBodyRoute(ApiRoute):
    """For endpoints shaped `async def endpoint(body: SomeModel, request: Request) -> Response`."""

    def serve(self, standard: Handler) -> Handler:
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
