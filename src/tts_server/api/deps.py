"""Dependencies every router uses: the app state and its parts, and API-key checking.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in its thread
pool, and a thread hop per dependency per request was a measurable share of a request's cost (and of
/health's latency under load). Keep them free of blocking work.

Each takes the connection itself rather than depending on `get_state`: FastAPI resolves every node of
the dependency graph anew on each request (~10 us apiece), and the speech routes run on every request.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from tts_server.errors import Unauthorized
from tts_server.runtime.speech import SpeechService
from tts_server.state import AppState


def app_state(connection: HTTPConnection) -> AppState:
    state: AppState = connection.app.state.tts
    return state


async def get_state(connection: HTTPConnection) -> AppState:
    return app_state(connection)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_speech(connection: HTTPConnection) -> SpeechService:
    return app_state(connection).speech


SpeechDep = Annotated[SpeechService, Depends(get_speech)]


async def require_api_key(connection: HTTPConnection) -> None:
    """With TTS_API_KEY set, demand it as a bearer token or X-API-Key. Unset: accept anything,
    since clients such as the OpenAI SDK always send some bearer token."""
    expected = app_state(connection).settings.api_key
    if not expected:
        return
    presented = _presented_key(connection)
    if presented is None or not secrets.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized()


def _presented_key(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # Browsers cannot set headers on a WebSocket handshake, so sockets may pass the key as a query parameter.
    return connection.headers.get("x-api-key") or connection.query_params.get("api_key")


AuthDep = Depends(require_api_key)
