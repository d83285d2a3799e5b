"""Dependencies every router uses: the app state and its parts (the API key and rate limits are
checked before routing, by tts_server.api.access).

They are `async def` although they never await: FastAPI runs a plain `def` dependency in its thread
pool, and a thread hop per dependency per request was a measurable share of a request's cost (and of
/health's latency under load). Keep them free of blocking work.

Each takes the connection itself rather than depending on `get_state`: FastAPI resolves every node of
the dependency graph anew on each request (~10 us apiece), and the speech routes run on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

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
