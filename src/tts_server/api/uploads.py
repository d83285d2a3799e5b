"""Uploads with the size limit enforced while the bytes arrive, not after buffering them all.

Two layers, both answering 413 PAYLOAD_TOO_LARGE:

- `LimitedUploadRoute` counts the request body as the server receives it: a declared Content-Length over
  the limit is refused before one byte is read, and a chunked body is cut off as soon as it passes the
  limit, so neither memory nor the multipart parser's temp files ever hold more than the limit.
- `read_upload` reads the parsed file part chunk by chunk and stops at the first byte past the limit.

The body limit is the file limit plus room for the other form fields (ids, transcripts).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from tts_server.api.json_route import StrictJsonRoute
from tts_server.errors import PayloadTooLarge

FORM_FIELDS_ALLOWANCE = 1024 * 1024  # multipart framing plus the text fields (starlette caps each at 1 MiB)
_READ_CHUNK = 64 * 1024


class _BodyTooLarge(HTTPException):
    """Raised from inside body parsing. An HTTPException, because FastAPI passes those through
    unchanged (anything else raised while parsing becomes a 400); rendered as 413 PAYLOAD_TOO_LARGE."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_too_large_message(None, limit))


class LimitedUploadRoute(StrictJsonRoute):
    """A route whose request body may not exceed the app's upload limit (plus the form allowance)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited_handler(request: Request) -> Response:
            file_limit = upload_limit(request)
            body_limit = file_limit + FORM_FIELDS_ALLOWANCE
            declared = _content_length(request)
            if declared is not None and declared > body_limit:
                raise PayloadTooLarge(_too_large_message(declared, file_limit))
            receive = _counting_receive(request.receive, body_limit, file_limit)
            return await handler(Request(request.scope, receive))

        return limited_handler


def upload_limit(request: Request) -> int:
    """The largest accepted audio upload of this app, in bytes (TTS_MAX_UPLOAD_MB)."""
    limit: int = request.app.state.tts.settings.max_upload_bytes
    return limit


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded file's bytes; PayloadTooLarge (413) at the first chunk that passes `limit`."""
    if upload.size is not None and upload.size > limit:
        raise PayloadTooLarge(_too_large_message(upload.size, limit))
    parts: list[bytes] = []
    total = 0
    while chunk := await upload.read(_READ_CHUNK):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(_too_large_message(None, limit))
        parts.append(chunk)
    return b"".join(parts)


def _counting_receive(receive: Receive, body_limit: int, file_limit: int) -> Receive:
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > body_limit:
                raise _BodyTooLarge(file_limit)
        return message

    return counting_receive


def _content_length(request: Request) -> int | None:
    try:
        return int(request.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _too_large_message(size: int | None, limit: int) -> str:
    what = f"The upload is {_megabytes(size)} MB" if size is not None else "The upload is too large"
    return f"{what}; the limit is {_megabytes(limit)} MB (TTS_MAX_UPLOAD_MB)."


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g}"
