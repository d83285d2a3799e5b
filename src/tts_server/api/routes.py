"""The route class of every API route: a bounded request body, and strict JSON.

- The body is bounded while it arrives: a declared Content-Length over the limit is refused before a byte is
  read (the server reads no more than a declared length), and a chunked body is cut off as soon as it passes
  the limit, so a client cannot make the server buffer gigabytes. The limit of an ordinary route follows the
  longest text it accepts (TTS_MAX_INPUT_CHARS); upload routes set their own (`uploads.LimitedUploadRoute`).
- JSON is read strictly: FastAPI decodes bodies with json.loads, which accepts unpaired UTF-16 surrogates
  ("\\ud800"), text that no UTF-8 encoder takes; it then failed as a 500 wherever it went (the database, an
  engine, an error message echoing it). pydantic's parser refuses them, as I-JSON (RFC 7493) asks, and so
  these routes refuse such a body as invalid JSON before FastAPI reads it. Every other body reaches FastAPI
  as it came, so its errors stay FastAPI's own.

Both answer in the error envelope: 413 PAYLOAD_TOO_LARGE, and 400 VALIDATION_ERROR ("not valid JSON").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import from_json
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_BASE_BODY_BYTES = 1024 * 1024  # every field but the text, with room to spare
_BODILESS_METHODS = frozenset({"GET", "HEAD"})
_BYTES_PER_TEXT_CHAR = 12  # the most JSON can spend on one character: a surrogate pair of \u escapes


class BodyTooLarge(HTTPException):
    """Raised from inside body parsing. An HTTPException, because FastAPI passes those through unchanged
    (anything else raised while parsing becomes a 400); rendered as 413 PAYLOAD_TOO_LARGE."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


class ApiRoute(APIRoute):
    """Bounds the request body, refuses JSON with unpaired surrogates, then serves the route."""

    def get_route_handler(self) -> Handler:
        serve = self.serve(_strict_json(super().get_route_handler()))

        async def handler(request: Request) -> Response:
            return await serve(self._bounded(request))

        return handler

    def serve(self, standard: Handler) -> Handler:
        """What handles a bounded request; `standard` is FastAPI's handler behind the JSON check. Subclasses
        put a fast path in front of it (json_route.JsonBodyRoute)."""
        return standard

    def body_limit(self, request: Request) -> int:
        """The most bytes a request body may have."""
        max_input_chars: int = request.app.state.tts.settings.max_input_chars
        return _BASE_BODY_BYTES + _BYTES_PER_TEXT_CHAR * max_input_chars

    def too_large_message(self, size: int | None, limit: int) -> str:
        what = f"The request body is {megabytes(size)} MB" if size is not None else "The request body is too large"
        return f"{what}; the limit is {megabytes(limit)} MB (it grows with TTS_MAX_INPUT_CHARS)."

    def _bounded(self, request: Request) -> Request:
        declared = _content_length(request)
        if declared is None and request.method in _BODILESS_METHODS:
            return request  # no GET route reads a body: nothing to count (/health stays as cheap as it was)
        limit = self.body_limit(request)
        if declared is not None:
            if declared > limit:
                raise BodyTooLarge(self.too_large_message(declared, limit))
            return request  # the server reads no more than the declared length
        return Request(request.scope, self._counting_receive(request.receive, limit))

    def _counting_receive(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(self.too_large_message(None, limit))
            return message

        return counting_receive


def _strict_json(standard: Handler) -> Handler:
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


def _is_json_family(content_type: str | None) -> bool:
    """The content types FastAPI decodes as JSON: application/json and application/*+json."""
    if content_type is None:
        return False
    kind, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g}"
