"""Wire models shared by every family: the error envelope and OpenAPI response declarations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str


class ErrorResponse(BaseModel):
    """Every error, whatever the route: Dia clients read detail/error_code, OpenAI clients read error."""

    detail: str = Field(description="What went wrong, for people.")
    error_code: str = Field(description="Stable machine-readable code, e.g. INVALID_VOICE_ID.")
    timestamp: str = Field(description="When the error happened (ISO 8601, UTC).")
    error: OpenAIErrorBody


_ERROR_TEXT = {
    400: "Invalid request (empty or too long text, unknown voice, model or format, malformed JSON)",
    401: "Missing or invalid API key",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Upload too large",
    422: "Body of the wrong shape",
    429: "Rate limit exceeded (see Retry-After)",
    500: "Generation failed",
    503: "Engine not ready or queue full (see Retry-After)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations for the error statuses a route can answer with. 400 (malformed JSON), 401 and
    422 can come from any route."""
    statuses = sorted({*codes, 400, 401, 422})
    return {code: {"model": ErrorResponse, "description": _ERROR_TEXT[code]} for code in statuses}


# One server-sent event: `data` holds JSON, {"type": "speech.audio.delta", "audio": base64} or speech.audio.done.
_SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
    "required": ["data"],
}

AUDIO_MEDIA_TYPES = ("audio/wav", "audio/mpeg", "audio/ogg", "audio/aac", "audio/flac", "audio/pcm")


def audio_responses(*error_codes: int, sse: bool = False) -> dict[int | str, dict[str, Any]]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    content: dict[str, Any] = {media_type: binary for media_type in AUDIO_MEDIA_TYPES}
    if sse:
        content["text/event-stream"] = {"schema": {"type": "array", "items": _SSE_EVENT}, "itemSchema": _SSE_EVENT}
    ok = {"description": "Audio in the requested format", "content": content}
    return {200: ok, **error_responses(*error_codes)}
