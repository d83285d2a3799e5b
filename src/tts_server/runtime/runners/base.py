"""The async face of an engine: owns its workers, admits requests, streams chunks, cancels.

Every engine is reached through an `EngineRunner`. The HTTP layer never touches an `Engine`
directly, so blocking synthesis never runs on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from tts_server.engines.base import AudioChunk, EngineInfo, SynthesisRequest, VoiceInfo


class RunnerState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RunnerLoad:
    """A snapshot for /health, /stats and /metrics."""

    workers: int
    active: int  # requests being synthesised now (one more than `workers` with a server thread)
    waiting: int  # admitted, waiting for a worker
    capacity: int  # active + waiting allowed before QueueFull


class EngineRunner(Protocol):
    info: EngineInfo

    @property
    def state(self) -> RunnerState: ...

    @property
    def state_detail(self) -> str | None:
        """Why the runner is not ready (load error, what is missing and how to get it)."""

    def load(self) -> RunnerLoad: ...

    async def start(self) -> None:
        """Start workers; slow loading continues in the background (state LOADING until READY)."""

    async def stop(self) -> None:
        """Cancel in-flight work and stop every worker."""

    def voices(self) -> Sequence[VoiceInfo]: ...

    def has_voice(self, name: str) -> bool: ...

    def synthesize(self, request: SynthesisRequest) -> AsyncIterator[AudioChunk]:
        """Stream the request's audio. Raises QueueFull when admission is refused and ModelNotLoaded
        when not READY. Closing the iterator early (client gone) cancels the work."""
        ...
