"""Uploads with the size limit enforced while the bytes arrive, not after buffering them all.

Two layers, both answering 413 PAYLOAD_TOO_LARGE:

- `LimitedUploadRoute` bounds the request body as the server receives it (`routes.ApiRoute`'s mechanism,
  with the upload limit): a declared Content-Length over the limit is refused before one byte is read, and
  a chunked body is cut off as soon as it passes the limit, so neither memory nor the multipart parser's
  temp files ever hold more than the limit.
- `read_upload` reads the parsed file part chunk by chunk and stops at the first byte past the limit.

The body limit is the file limit plus room for the other form fields (ids, transcripts).
"""

from __future__ import annotations

from fastapi import UploadFile
from starlette.requests import Request

from tts_server.api.routes import ApiRoute, megabytes
from tts_server.errors import PayloadTooLarge

FORM_FIELDS_ALLOWANCE = 1024 * 1024  # multipart framing plus the text fields (starlette caps each at 1 MiB)
_READ_CHUNK = 64 * 1024


class LimitedUploadRoute(ApiRoute):
    """A route whose request body may not exceed the app's upload limit (plus the form allowance)."""

    def body_limit(self, request: Request) -> int:
        return upload_limit(request) + FORM_FIELDS_ALLOWANCE

    def too_large_message(self, size: int | None, limit: int) -> str:
        return _too_large_message(size, limit - FORM_FIELDS_ALLOWANCE)


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


def _too_large_message(size: int | None, limit: int) -> str:
    what = f"The upload is {megabytes(size)} MB" if size is not None else "The upload is too large"
    return f"{what}; the limit is {megabytes(limit)} MB (TTS_MAX_UPLOAD_MB)."
