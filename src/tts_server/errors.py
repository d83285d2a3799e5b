"""Typed service errors and the one error envelope every client family can read.

The envelope carries both the Dia server's fields (detail, error_code, timestamp) and OpenAI's
`error` object, so the OpenAI SDK and Dia clients each find what they look for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_VOICE_ID = "INVALID_VOICE_ID"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    MODEL_NOT_LOADED = "MODEL_NOT_LOADED"
    WHISPER_NOT_AVAILABLE = "WHISPER_NOT_AVAILABLE"
    GPU_OUT_OF_MEMORY = "GPU_OUT_OF_MEMORY"
    AUDIO_PROCESSING_ERROR = "AUDIO_PROCESSING_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INVALID_MODEL = "INVALID_MODEL"
    INVALID_FORMAT = "INVALID_FORMAT"
    INVALID_ID = "INVALID_ID"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNAUTHORIZED = "UNAUTHORIZED"
    RATE_LIMITED = "RATE_LIMITED"
    QUEUE_FULL = "QUEUE_FULL"
    JOB_NOT_FINISHED = "JOB_NOT_FINISHED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# OpenAI's `error.type` values by status: clients branch on these.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
}


class ServiceError(Exception):
    """Base of every error the server answers on purpose. Rendered once, in `error_envelope`."""

    status_code = 500
    code = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}


class InvalidRequest(ServiceError):
    status_code = 400
    code = ErrorCode.VALIDATION_ERROR


class TextTooLong(InvalidRequest):
    code = ErrorCode.TEXT_TOO_LONG


class InvalidModel(InvalidRequest):
    code = ErrorCode.INVALID_MODEL


class InvalidFormat(InvalidRequest):
    code = ErrorCode.INVALID_FORMAT


class InvalidId(InvalidRequest):
    code = ErrorCode.INVALID_ID


class VoiceNotFound(InvalidRequest):
    code = ErrorCode.INVALID_VOICE_ID

    def __init__(self, voice_id: str, *, param: str = "voice", reason: str | None = None) -> None:
        message = reason or f"Voice '{voice_id}' not found. GET /v1/voices lists the available voices."
        super().__init__(message, param=param)
        self.voice_id = voice_id


class AudioProcessingError(InvalidRequest):
    code = ErrorCode.AUDIO_PROCESSING_ERROR


class Unauthorized(ServiceError):
    status_code = 401
    code = ErrorCode.UNAUTHORIZED

    def __init__(self, message: str = "Missing or invalid API key.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFound(ServiceError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class Conflict(ServiceError):
    status_code = 409
    code = ErrorCode.CONFLICT


class UpgradeRequired(ServiceError):
    """A plain HTTP request to a WebSocket endpoint."""

    status_code = 426
    code = ErrorCode.UPGRADE_REQUIRED

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Upgrade": "websocket", "Connection": "Upgrade"})


class VoiceChangedMeanwhile(Conflict):
    """Someone else wrote a voice between a caller's look and its write (VoiceLibrary.add(replacing=...))."""


class JobNotFinished(Conflict):
    code = ErrorCode.JOB_NOT_FINISHED


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class RateLimited(ServiceError):
    status_code = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, headers={**(headers or {}), "Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(ServiceError):
    status_code = 503
    code = ErrorCode.MODEL_NOT_LOADED


class ModelNotLoaded(ServiceUnavailable):
    code = ErrorCode.MODEL_NOT_LOADED


class WhisperNotAvailable(ServiceUnavailable):
    code = ErrorCode.WHISPER_NOT_AVAILABLE


class QueueFull(ServiceUnavailable):
    code = ErrorCode.QUEUE_FULL

    def __init__(self, message: str = "The server is busy; try again shortly.", *, retry_after: int = 2) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class DatabaseUnavailable(ServiceUnavailable):
    """The database (PostgreSQL, for replicas) cannot be reached; the replica recovers when it can."""

    code = ErrorCode.DATABASE_UNAVAILABLE

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class GenerationFailed(ServiceError):
    status_code = 500
    code = ErrorCode.INTERNAL_ERROR


class GpuOutOfMemory(GenerationFailed):
    code = ErrorCode.GPU_OUT_OF_MEMORY


def error_envelope(
    status_code: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
) -> dict[str, Any]:
    """The body of every error response."""
    return {
        "detail": message,
        "error_code": code,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "error": {
            "message": message,
            "type": _OPENAI_TYPES.get(status_code, "server_error" if status_code >= 500 else "invalid_request_error"),
            "param": param,
            "code": code,
        },
    }
