"""GET /stats (the Dia server's statistics) and GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tts_server.api.deps import StateDep
from tts_server.api.routes import ApiRoute
from tts_server.runtime.ops.metrics import PROMETHEUS_CONTENT_TYPE
from tts_server.runtime.ops.system import format_duration
from tts_server.schemas.stats import (
    PerformanceStats,
    QueueStats,
    RequestStats,
    ResourceStats,
    StatsResponse,
    StatsScope,
)

router = APIRouter(tags=["server"], route_class=ApiRoute)


@router.get("/stats", response_model=StatsResponse, summary="Server statistics")
async def stats(state: StateDep) -> StatsResponse:
    """Generation requests since start (synchronous, async jobs and WebSocket), performance, and CPU,
    memory and GPU use. `scope` says which figures are this replica's and which every replica's."""
    totals = state.metrics.totals()
    rate = 100.0 * totals.successful / totals.total if totals.total else 100.0
    audio = totals.audio_seconds
    rtf = totals.real_time_factor
    resources = state.resources.read()
    return StatsResponse(
        requests=RequestStats(
            total=totals.total,
            successful=totals.successful,
            failed=totals.failed,
            cancelled=totals.cancelled,
            success_rate=round(rate, 1),
        ),
        performance=PerformanceStats(
            avg_generation_time=round(totals.generation_seconds / totals.timed, 3) if totals.timed else 0.0,
            avg_tokens_per_second=round(totals.tokens_per_second or 0.0, 1),
            real_time_factor=float(f"{rtf:.4g}") if rtf is not None else None,  # the built-in engine's is ~0.002
            total_audio_generated=format_duration(audio),
            total_audio_seconds=round(audio, 3),
        ),
        resources=ResourceStats(
            cpu_usage=resources.cpu_usage,
            memory_usage=resources.memory_usage,
            process_memory_mb=resources.process_memory_mb,
            gpu_usage=resources.gpu_usage,
            gpu_memory=resources.gpu_memory,
        ),
        jobs=QueueStats(queued_jobs=state.jobs.depth, active_jobs=state.jobs.active),
        scope=StatsScope(
            replica_id=state.bus.replica_id,
            requests="replica",
            resources="replica",
            queued_jobs="all" if state.database.shared else "replica",
            active_jobs="replica",
            rate_limits=state.rate_limiter.scope,
        ),
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {PROMETHEUS_CONTENT_TYPE: {}}}},
    summary="Prometheus metrics",
)
async def metrics(state: StateDep) -> Response:
    """Request counts and latencies by route and status, queue depth, active jobs, audio seconds
    generated, real-time factor and engine state, in Prometheus' text format."""
    return Response(state.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)
