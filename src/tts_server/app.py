"""The application factory: lifespan, middleware, error handlers, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

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
from tts_server.api.deps import AuthDep
from tts_server.api.errors import install_error_handlers
from tts_server.api.middleware import RequestIdMiddleware
from tts_server.api.ratelimit import RateLimitGenerate, RateLimitHeadersMiddleware, RateLimitJobs, RateLimitUpload
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

    app = FastAPI(title="tts-server", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    _add_middleware(app, settings)
    install_error_handlers(app)
    app.include_router(health.router)
    for router in (speech.router, generate.router):
        app.include_router(router, dependencies=[RateLimitGenerate, AuthDep])
    app.include_router(jobs.router, dependencies=[RateLimitJobs, AuthDep])
    for router in (voices.router, ws.router, config.router, stats.router):
        app.include_router(router, dependencies=[AuthDep])
    _include_voice_library(app)
    _include_whisper(app)
    ui.install_playground(app)  # the page needs no key: it asks for one when the API answers 401
    return app


def _include_voice_library(app: FastAPI) -> None:
    """S1 references; the Dia-view routes both bare and under /v1 (SillyTavern's Dia provider uses /v1)."""
    app.include_router(references.router, dependencies=[AuthDep])
    app.include_router(voice_mappings.listings, dependencies=[AuthDep])  # the object at /, the array at /v1
    for prefix in ("", "/v1"):
        for router in (audio_prompts.router, voice_mappings.router):
            app.include_router(router, prefix=prefix, dependencies=[AuthDep])


def _include_whisper(app: FastAPI) -> None:
    """/whisper/*, the audio-prompt transcription (bare and under /v1) and OpenAI's transcriptions."""
    app.include_router(whisper.router, dependencies=[AuthDep])
    for prefix in ("", "/v1"):
        app.include_router(whisper.prompts_router, prefix=prefix, dependencies=[AuthDep])
    app.include_router(transcriptions.router, dependencies=[RateLimitUpload, AuthDep])


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(RateLimitHeadersMiddleware)
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
