"""Pure ASGI middleware (BaseHTTPMiddleware would buffer and break streaming cancellation)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID = b"x-request-id"


class RequestIdMiddleware:
    """Gives every request an id (or keeps the client's X-Request-ID) for logs and error messages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope["headers"]) or secrets.token_hex(8)
        scope["request_id"] = request_id
        header = (_REQUEST_ID, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [pair for pair in message.get("headers", ()) if pair[0].lower() != _REQUEST_ID]
                message["headers"] = [*kept, header]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _client_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The client's own id when it sent a usable one (printable, cut to 64 characters)."""
    for name, value in headers:
        if name == _REQUEST_ID:  # ASGI servers give header names in lower case
            incoming = value.decode("latin-1")
            return incoming[:64] if incoming.isprintable() and incoming else None
    return None
