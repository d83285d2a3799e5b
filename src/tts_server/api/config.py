"""GET/PUT /config: the Dia server's runtime configuration, plus the rate limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.schemas.common import error_responses
from tts_server.schemas.config import ConfigUpdateResponse, ServerConfig

router = APIRouter(tags=["server"], route_class=ApiRoute)


@router.get("/config", response_model=ServerConfig, summary="Server configuration")
async def get_config(state: StateDep) -> ServerConfig:
    """The runtime configuration. Keys that need a restart show the value saved for the next start.
    Secrets (the API key) are never part of it."""
    return state.config.view()


@router.put(
    "/config",
    response_model=ConfigUpdateResponse,
    responses=error_responses(400),
    summary="Update server configuration",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServerConfig"}}},
        }
    },
)
async def put_config(state: StateDep, body: Any = Body(...)) -> ConfigUpdateResponse:  # noqa: B008
    """Change any subset of the keys. An unknown key or a bad value is a 400 and changes nothing.
    Changes are saved (they survive restarts) and take effect at once, except those listed in
    `restart_required`."""
    change = await state.config.update(body)
    restart = f" Restart the server to apply: {', '.join(change.restart_required)}." if change.restart_required else ""
    message = f"Updated {', '.join(change.updated)}.{restart}" if change.updated else "Nothing changed."
    return ConfigUpdateResponse(
        message=message, updated=change.updated, restart_required=change.restart_required, config=change.config
    )
