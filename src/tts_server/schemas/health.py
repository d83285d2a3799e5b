"""GET /health: the union of the S1-mini and Dia servers' health fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EngineHealth(BaseModel):
    id: str
    state: Literal["loading", "ready", "failed", "stopped"]
    detail: str | None = None
    device: str
    workers: int
    active: int
    waiting: int
    max_batch: int | None = Field(
        None, description="Batched engines (Dia): requests decoded together, sized at load from free memory."
    )


class DatabaseHealth(BaseModel):
    dialect: Literal["sqlite", "postgresql"] = Field(description="sqlite: this server alone; postgresql: shared.")
    reachable: bool = Field(description="False while the database cannot be reached: what needs it answers 503.")


class HealthResponse(BaseModel):
    status: Literal["healthy", "loading", "degraded", "unhealthy"] = Field(
        description="healthy: default engine ready; loading: still loading; degraded: fell back or partly failed, "
        "or the database cannot be reached."
    )
    provider: str = Field(description="Engine serving requests by default.")
    models_loaded: bool
    model_loaded: bool
    device: str
    streaming_enabled: bool
    version: str
    gpu_available: bool
    gpu_count: int
    worker_count: int
    active_jobs: int
    uptime: str = Field(description="Human-readable, e.g. '2h 45m 12s'.")
    uptime_seconds: float
    engines: list[EngineHealth]
    notes: list[str] = Field(
        default_factory=list, description="Why an engine is not in use (e.g. Dia weights not found) and how to fix it."
    )
    replica_id: str = Field(description="Which replica answered (TTS_REPLICA_ID, or host name and process id).")
    database: DatabaseHealth
