"""Renders every error in the one envelope, whatever raised it."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from tts_server.errors import ErrorCode, ServiceError, ServiceUnavailable, error_envelope

log = logging.getLogger(__name__)

_HTTP_CODES = {
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
}


class _EnvelopeResponse(JSONResponse):
    """An error's JSON. A message may echo what a request or a file name held: text that is not valid Unicode
    (an unpaired surrogate) is written as its JSON escape instead of failing the error response itself."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")  # within a JSON string, \udXXX is a valid escape


def envelope_response(
    status_code: int, code: str, message: str, *, param: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = error_envelope(status_code, code, message, param=param)
    return _EnvelopeResponse(body, status_code=status_code, headers=headers)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if exc.status_code >= 500:
        # A full queue or an engine not ready is the server saying "not now", not a fault: under load it
        # answers hundreds of these, and each at ERROR would bury the real errors.
        level = logging.WARNING if isinstance(exc, ServiceUnavailable) else logging.ERROR
        log.log(level, "request %s failed: %s", _request_id(request), exc.message)
    return envelope_response(exc.status_code, exc.code, exc.message, param=exc.param, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    invalid_json = next((error for error in errors if error.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = (invalid_json.get("ctx") or {}).get("error")
        message = f"Request body is not valid JSON: {reason}." if reason else "Request body is not valid JSON."
        return envelope_response(400, ErrorCode.VALIDATION_ERROR, message)
    first = errors[0] if errors else {}
    param = _param_name(first.get("loc", ()))
    message = "; ".join(_describe(error) for error in errors[:5]) or "Invalid request."
    return envelope_response(422, ErrorCode.VALIDATION_ERROR, message, param=param)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.VALIDATION_ERROR)
    return envelope_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    request_id = _request_id(request)
    log.exception("request %s failed unexpectedly", request_id, exc_info=exc)
    message = f"Internal error (request id {request_id}); see the server log."
    return envelope_response(500, ErrorCode.INTERNAL_ERROR, message)


def _describe(error: dict[str, Any]) -> str:
    location = _param_name(error.get("loc", ())) or "body"
    return f"{location}: {error.get('msg', 'invalid')}"


def _param_name(location: Any) -> str | None:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or None


def _request_id(request: Request) -> str:
    return str(request.scope.get("request_id", "-"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
