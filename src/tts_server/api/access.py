"""The access gate: the API key and the rate limits, checked before routing and before any body is read.

One pure ASGI middleware instead of a dependency on every router, for two reasons: an unauthenticated
or rate-limited upload is refused before FastAPI parses (and spools) its multipart body, and the
check costs a dictionary lookup instead of two dependency nodes that FastAPI re-resolves on every
request (bench/latency_breakdown.py).

Every path needs the key (when TTS_API_KEY is set) except the public ones the app names: /health,
the docs and the playground. Routes say which rate-limit class they count against with
`openapi_extra=rate_limited(LimitClass.X)`, which also documents it in the schema as `x-rate-limit`;
the app registers each router's routes with `AccessPolicy.add_routes` as it includes it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from fastapi.routing import APIRoute
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from tts_server.api.errors import envelope_response
from tts_server.errors import RateLimited, ServiceError, Unauthorized
from tts_server.runtime.ops.ratelimit import LimitClass, LimitDecision, RateLimiter
from tts_server.state import AppState

_RATE_LIMIT_KEY = "x-rate-limit"
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def rate_limited(limit_class: LimitClass) -> dict[str, Any]:
    """A route's `openapi_extra`: the route counts against `limit_class` (and the schema says so)."""
    return {_RATE_LIMIT_KEY: limit_class.value}


class AccessPolicy:
    """Which paths are public and which routes count against which rate-limit class."""

    def __init__(self, public_paths: Iterable[str], public_prefixes: Iterable[str] = ()) -> None:
        self._public = frozenset(public_paths)
        self._public_prefixes = tuple(public_prefixes)
        self._exact: dict[tuple[str, str], LimitClass] = {}
        self._templates: list[tuple[str, re.Pattern[str], LimitClass]] = []

    def add_routes(self, routes: Iterable[Any], prefix: str = "") -> None:
        """Register the rate-limited routes among `routes` (a router's, before it is included at `prefix`)."""
        for route in routes:
            value = (getattr(route, "openapi_extra", None) or {}).get(_RATE_LIMIT_KEY)
            if not isinstance(route, APIRoute) or value is None:
                continue
            self.limit(route.methods or (), prefix + route.path, LimitClass(value))

    def limit(self, methods: Iterable[str], path: str, limit_class: LimitClass) -> None:
        literal_parts = _PATH_PARAMETER.split(path)
        # /jobs/{job_id}: a parameter matches one path segment
        pattern = re.compile("^" + "[^/]+".join(re.escape(part) for part in literal_parts) + "$")
        for method in methods:
            if len(literal_parts) == 1:
                self._exact[(method, path)] = limit_class
            else:
                self._templates.append((method, pattern, limit_class))

    def is_public(self, path: str) -> bool:
        return path in self._public or path.startswith(self._public_prefixes)

    def limit_class(self, method: str, path: str) -> LimitClass | None:
        found = self._exact.get((method, path))
        if found is not None or not self._templates:
            return found
        return next((cls for m, pattern, cls in self._templates if m == method and pattern.match(path)), None)


class AccessGate:
    """Pure ASGI: counts rate-limited requests (429 over the limit), then demands the API key (401).

    The rate limit is checked first, so a client guessing keys is throttled too. Responses of a counted
    request carry X-RateLimit-* headers, success or error. WebSocket handshakes need the key; their
    messages are rate-limited one by one by the socket handler.
    """

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: AppState | None = getattr(scope["app"].state, "tts", None)
        if scope["type"] not in ("http", "websocket") or state is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = await self._count(scope, state.rate_limiter)
            self._authenticate(scope, state.settings.api_key)
        except ServiceError as refusal:
            await self._refuse(scope, receive, send, refusal)
            return
        if decision is None:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in decision.headers().items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _count(self, scope: Scope, limiter: RateLimiter) -> LimitDecision | None:
        if scope["type"] != "http" or not limiter.enabled:
            return None
        limit_class = self.policy.limit_class(scope["method"], scope["path"])
        return None if limit_class is None else await check_rate_limit(scope, limiter, limit_class)

    def _authenticate(self, scope: Scope, expected: str | None) -> None:
        if not self.policy.is_public(scope["path"]) and not key_accepted(scope, expected):
            raise Unauthorized()

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: ServiceError) -> None:
        response = envelope_response(refusal.status_code, refusal.code, refusal.message, headers=refusal.headers)
        if scope["type"] == "http":
            await response(scope, receive, send)
        else:  # a WebSocket handshake: an HTTP answer where the server can send one, else a policy close
            await WebSocket(scope, receive, send).send_denial_response(response)


async def check_rate_limit(scope: Scope, limiter: RateLimiter, limit_class: LimitClass) -> LimitDecision | None:
    """Count one request of the connection's client; raises RateLimited over the limit. None when
    rate limiting is off or the client is exempt."""
    peer = scope.get("client")
    client = limiter.limited_client(peer[0] if peer else None, Headers(scope=scope))
    if client is None:
        return None  # exempt (this machine, by default): no limit and no X-RateLimit headers
    decision = await limiter.hit(limit_class, client)
    if decision is not None and not decision.allowed:
        raise RateLimited(
            f"Rate limit exceeded: {decision.limit} {limit_class.value} requests per window for this client. "
            f"Retry in {decision.retry_after}s.",
            retry_after=decision.retry_after,
            headers=decision.headers(),
        )
    return decision


def key_accepted(scope: Scope, expected: str | None) -> bool:
    """True when no API key is configured, or the request presents it."""
    if not expected:
        return True
    presented = presented_key(scope)
    return presented is not None and secrets.compare_digest(presented.encode(), expected.encode())


def presented_key(scope: Scope) -> str | None:
    """A bearer token, an X-API-Key header, or (browsers cannot set headers on a WebSocket handshake)
    an `api_key` query parameter. Clients such as the OpenAI SDK always send some bearer token."""
    headers = Headers(scope=scope)
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if key := headers.get("x-api-key"):
        return key
    query: bytes = scope.get("query_string", b"")
    return QueryParams(query).get("api_key") if query else None
