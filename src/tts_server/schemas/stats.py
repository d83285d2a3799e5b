"""Wire model of GET /stats, in the Dia server's shape with a few more fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RequestStats(BaseModel):
    total: int = Field(description="Generation requests that ended: successful + failed.")
    successful: int
    failed: int = Field(description="Refused or failed (4xx/5xx, or an error mid-generation).")
    cancelled: int = Field(description="Cancelled jobs and streams the client left; not part of total.")
    success_rate: float = Field(description="Percent of total that succeeded (100 when there were none).")


class PerformanceStats(BaseModel):
    avg_generation_time: float = Field(description="Mean seconds per successful generation.")
    avg_tokens_per_second: float = Field(
        description="Audio tokens generated per second of work. Dia: DAC frames (~86 per second of audio). "
        "The built-in engine has no tokens and counts 50 per second of audio (as the SSE usage does), so "
        "this is 50 x audio seconds per second."
    )
    real_time_factor: float | None = Field(
        description="Seconds of generation per second of audio; below 1 is faster than real time."
    )
    total_audio_generated: str = Field(description="Like '45m 23s'.")
    total_audio_seconds: float


class ResourceStats(BaseModel):
    cpu_usage: float = Field(description="Percent of all cores, since the previous reading.")
    memory_usage: float = Field(description="Percent of the machine's memory in use.")
    process_memory_mb: float = Field(description="Resident memory of the server process.")
    gpu_usage: list[float] = Field(description="Percent busy per GPU; empty without a GPU.")
    gpu_memory: list[float] = Field(description="GB in use per GPU; empty without a GPU.")


class QueueStats(BaseModel):
    queued_jobs: int
    active_jobs: int


class StatsScope(BaseModel):
    """Whose figures these are: this replica's, or every replica's (behind a load balancer)."""

    replica_id: str = Field(description="The replica that answered.")
    requests: Literal["replica"] = Field(description="requests and performance count this replica's work only.")
    resources: Literal["replica"] = Field(description="CPU, memory and GPU of this replica's machine and process.")
    queued_jobs: Literal["replica", "all"] = Field(description="all: jobs waiting on every replica (shared database).")
    active_jobs: Literal["replica"] = Field(description="Jobs running on this replica.")
    rate_limits: Literal["replica", "all"] = Field(description="all: the counters are shared (TTS_RATE_LIMIT_STORAGE).")


class StatsResponse(BaseModel):
    requests: RequestStats
    performance: PerformanceStats
    resources: ResourceStats
    jobs: QueueStats
    scope: StatsScope
