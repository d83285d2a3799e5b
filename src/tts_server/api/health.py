"""GET /health: answers in milliseconds from in-memory state, even while every worker is busy."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse

from tts_server import __version__
from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.ops.system import detect_gpus, format_duration
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.schemas.health import DatabaseHealth, EngineHealth, HealthResponse

router = APIRouter(tags=["server"], route_class=ApiRoute)


@router.head("/health", include_in_schema=False)  # for monitors that probe with HEAD; the same status, no body
@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "The default engine failed to load"}},
    summary="Server health",
)
async def health(state: StateDep) -> JSONResponse:
    """Engine state, device and load, the replica that answered and whether it reaches the database.
    Needs no API key. 503 only when the default engine failed."""
    default = state.engines.default
    engines = [_engine_health(runner) for runner in state.engines]
    gpus = detect_gpus()
    status = _status(default.state, any(engine.state == "failed" for engine in engines) or not state.database.reachable)
    body = HealthResponse(
        status=status,
        provider=default.info.id.replace("-", "_"),  # the S1 spec writes s1_mini
        models_loaded=default.state is RunnerState.READY,
        model_loaded=default.state is RunnerState.READY,
        device=default.info.device,
        streaming_enabled=default.info.capabilities.streaming,
        version=__version__,
        gpu_available=gpus.available,
        gpu_count=gpus.count,
        worker_count=sum(engine.workers for engine in engines),
        active_jobs=state.active_work(),
        uptime=format_duration(state.uptime_seconds),
        uptime_seconds=round(state.uptime_seconds, 3),
        engines=engines,
        notes=state.engines.notes,
        replica_id=state.bus.replica_id,
        database=DatabaseHealth(dialect=state.database.dialect, reachable=state.database.reachable),
    )
    return JSONResponse(body.model_dump(), status_code=503 if status == "unhealthy" else 200)


def _status(default_state: RunnerState, any_failed: bool) -> str:
    if default_state is RunnerState.LOADING:
        return "loading"
    if default_state is not RunnerState.READY:
        return "unhealthy"
    return "degraded" if any_failed else "healthy"


def _engine_health(runner: EngineRunner) -> EngineHealth:
    load = runner.load()
    return EngineHealth(
        id=runner.info.id,
        state=runner.state.value,
        detail=runner.state_detail,
        device=runner.info.device,
        workers=load.workers,
        active=load.active,
        waiting=load.waiting,
        max_batch=getattr(runner, "max_batch", None),
    )
