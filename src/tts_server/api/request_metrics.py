"""Pure ASGI middleware counting requests by route template (never the raw path: ids would explode the
label set) and status, and the outcome of synchronous speech generations for /stats."""

from __future__ import annotations

import time

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tts_server.runtime.ops.metrics import Metrics, Outcome
from tts_server.runtime.speech import SpeechResult

# Synchronous generation routes; async jobs and WebSocket requests are counted by the job queue.
GENERATION_ROUTES = frozenset(
    {("POST", "/v1/audio/speech"), ("POST", "/v1/audio/speech/extended"), ("POST", "/generate")}
)
_TRUE = frozenset({"1", "true", "yes", "on"})


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = getattr(scope["app"].state, "tts", None) if scope["type"] == "http" else None
        if state is None:
            await self.app(scope, receive, send)
            return
        metrics: Metrics = state.metrics
        started = time.perf_counter()
        response = _ResponseWatch()

        async def watching_send(message: Message) -> None:
            response.see(message)
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, watching_send)
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - started
            status = response.status if response.status is not None else 500
            method: str = scope["method"]
            metrics.observe_http(method, _route_template(scope), status, elapsed)
            if _is_sync_generation(scope, method):
                outcome = response.outcome(failed)
                metrics.record_generation(response.engine, outcome, elapsed, _audio_seconds(scope))


def _audio_seconds(scope: Scope) -> float | None:
    """Audio made for the request, streamed or whole: the speech route shares its result object."""
    result: SpeechResult | None = scope.get("state", {}).get("speech_result")
    return result.audio_seconds if result is not None else None


class _ResponseWatch:
    def __init__(self) -> None:
        self.status: int | None = None
        self.engine = "none"
        self.complete = False

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            for name, value in message.get("headers", ()):
                if name.lower() == b"x-tts-engine":
                    self.engine = value.decode("latin-1")
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True

    def outcome(self, failed: bool) -> Outcome:
        if failed or self.status is None or self.status >= 400:
            return Outcome.FAILURE
        return Outcome.SUCCESS if self.complete else Outcome.CANCELLED  # the client left mid-stream


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _is_sync_generation(scope: Scope, method: str) -> bool:
    if (method, _route_template(scope)) not in GENERATION_ROUTES:
        return False
    query: bytes = scope.get("query_string", b"")
    return not query or QueryParams(query).get("async_mode", "").lower() not in _TRUE
