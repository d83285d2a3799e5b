"""Rate-limit dependencies for routes, and the middleware that puts X-RateLimit-* on their responses.

Attach a class to a route or router: `dependencies=[RateLimitUpload]`. The dependency counts the request
and refuses it over the limit (429 RATE_LIMITED with Retry-After); the middleware adds the headers to
whatever response the route ends with, success or error.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tts_server.api.deps import app_state
from tts_server.errors import RateLimited
from tts_server.runtime.ratelimit import LimitClass, LimitDecision, RateLimiter

_SCOPE_KEY = "tts.rate_limit"


def client_address(connection: HTTPConnection, limiter: RateLimiter) -> str:
    peer = connection.client.host if connection.client else None
    return limiter.client_address(peer, connection.headers.get("x-forwarded-for"))


def check_rate_limit(connection: HTTPConnection, limiter: RateLimiter, limit_class: LimitClass) -> LimitDecision | None:
    """Count one request; raises RateLimited over the limit. None when rate limiting is off."""
    decision = limiter.hit(limit_class, client_address(connection, limiter))
    if decision is None:
        return None
    holder: dict[str, LimitDecision] | None = connection.scope.get(_SCOPE_KEY)
    if holder is not None:
        holder["decision"] = decision
    if not decision.allowed:
        raise RateLimited(
            f"Rate limit exceeded: {decision.limit} {limit_class.value} requests per window for this client. "
            f"Retry in {decision.retry_after}s.",
            retry_after=decision.retry_after,
            headers=decision.headers(),
        )
    return decision


def _dependency(limit_class: LimitClass) -> Any:
    async def rate_limit(connection: HTTPConnection) -> None:  # async: no thread hop
        check_rate_limit(connection, app_state(connection).rate_limiter, limit_class)

    rate_limit.__name__ = f"rate_limit_{limit_class.value}"
    return Depends(rate_limit)


RateLimitGenerate = _dependency(LimitClass.GENERATE)
RateLimitUpload = _dependency(LimitClass.UPLOAD)
RateLimitJobs = _dependency(LimitClass.JOBS)


class RateLimitHeadersMiddleware:
    """Pure ASGI: adds the X-RateLimit-* headers of the request's rate-limit check, if one ran."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder: dict[str, LimitDecision] = {}
        scope[_SCOPE_KEY] = holder  # a shared object: found even where the scope dict gets copied

        async def send_with_headers(message: Message) -> None:
            decision = holder.get("decision")
            if message["type"] == "http.response.start" and decision is not None:
                headers = MutableHeaders(scope=message)
                for name, value in decision.headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
