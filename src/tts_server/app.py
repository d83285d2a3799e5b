"""The application factory: lifespan, middleware, error handlers, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig

from tts_server import __version__
from tts_server.api import (
    audio_prompts,
    config,
    generate,
    health,
    jobs,
    references,
    speech,
    stats,
    transcriptions,
    ui,
    voice_mappings,
    voices,
    whisper,
    ws,
)
from tts_server.api.access import AccessGate, AccessPolicy
from tts_server.api.errors import install_error_handlers
from tts_server.api.middleware import RequestIdMiddleware
from tts_server.api.request_metrics import RequestMetricsMiddleware
from tts_server.settings import Settings
from tts_server.state import build_state

log = logging.getLogger(__name__)

_EXPOSED_HEADERS = [
    "X-Request-ID",
    "X-TTS-Engine",
    "X-Audio-Duration",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]

# FastAPI looks for an OpenTelemetry provider on every request unless told not to (~5 us each).
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """Self-hosted text-to-speech with two API families: OpenAI's speech API (and the S1-mini
server's extensions) and the Dia TTS server's API. Audio in wav, mp3, opus, aac, flac and pcm,
streamed as it is made. Errors share one envelope: `{detail, error_code, timestamp, error: {...}}`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings)
        app.state.tts = state
        await state.start()
        log.info("tts-server %s ready to accept requests (engine: %s)", __version__, state.engines.default_id)
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="tts-server",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    policy = _public_paths(app)
    _add_middleware(app, settings, policy)
    install_error_handlers(app)
    include = _Includer(app, policy)
    include(health.router)
    for router in (speech.router, generate.router, jobs.router, voices.router, ws.router, config.router, stats.router):
        include(router)
    _include_voice_library(include)
    _include_whisper(include)
    ui.install_playground(app)  # the page needs no key: it asks for one when the API answers 401
    return app


class _Includer:
    """Includes a router and tells the access policy about its rate-limited routes.

    A router of plain routes with no prefix joins the app's own route list, as if its routes were declared
    on the app: since FastAPI 0.137, include_router() keeps a nested router that every request resolves
    twice (match, then match again to handle), ~10 us of a speech request's ~105 us in the app
    (bench/app_overhead.py). Prefixed routers (their routes' paths lack the prefix) are included as usual.
    """

    def __init__(self, app: FastAPI, policy: AccessPolicy) -> None:
        self._app, self._policy = app, policy

    def __call__(self, router: APIRouter, prefix: str = "") -> None:
        if prefix or not all(isinstance(route, APIRoute) for route in router.routes):
            self._app.include_router(router, prefix=prefix)
        else:
            self._app.router.routes.extend(router.routes)
        self._policy.add_routes(router.routes, prefix)


def _public_paths(app: FastAPI) -> AccessPolicy:
    """What answers without the API key: health, the docs and the playground, and the two listings Open WebUI
    reads without sending its key (the voice listing then shows built-in voices only). Everything else needs it."""
    docs = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    health_paths = [route.path for route in health.router.routes if isinstance(route, APIRoute)]
    open_webui = ["/v1/audio/models", "/v1/audio/voices"]
    public = [*health_paths, *(path for path in docs if path), "/", "/ui", *open_webui]
    return AccessPolicy(public, public_prefixes=["/ui/"])


def _include_voice_library(include: _Includer) -> None:
    """S1 references; the Dia-view routes both bare and under /v1 (SillyTavern's Dia provider uses /v1)."""
    include(references.router)
    include(voice_mappings.listings)  # the object at /, the array at /v1
    for prefix in ("", "/v1"):
        for router in (audio_prompts.router, voice_mappings.router):
            include(router, prefix)


def _include_whisper(include: _Includer) -> None:
    """/whisper/*, the audio-prompt transcription (bare and under /v1) and OpenAI's transcriptions."""
    include(whisper.router)
    for prefix in ("", "/v1"):
        include(whisper.prompts_router, prefix)
    include(transcriptions.router)


def _add_middleware(app: FastAPI, settings: Settings, policy: AccessPolicy) -> None:
    # Outermost last: request ids on every answer, CORS headers on refusals too (browsers must read a 401).
    app.add_middleware(AccessGate, policy=policy)
    app.add_middleware(RequestMetricsMiddleware)
    origins = settings.cors_origin_list
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials="*" not in origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=_EXPOSED_HEADERS,
    )
    app.add_middleware(RequestIdMiddleware)
