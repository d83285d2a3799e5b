"""Counters behind GET /stats and GET /metrics, on a registry of this app's own (never the global one).

Generation requests are counted once each, where their outcome is known: synchronous speech routes by
the HTTP middleware when the response ends, async and WebSocket jobs by the job queue when the job
ends. Everything live (queue depth, engine state) is read at scrape time by a collector instead of
being copied into gauges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.runners.registry import EngineRegistry

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Tokens per second of audio, for avg_tokens_per_second: Dia emits one DAC frame (9 codes) per 512 samples
# at 44.1 kHz. Engines without tokens (the built-in one) count 50 per second of audio, the same convention
# as the `usage` of OpenAI's SSE stream.
TOKENS_PER_AUDIO_SECOND = {"dia": 44_100 / 512}
DEFAULT_TOKENS_PER_AUDIO_SECOND = 50.0

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class _EngineTotals:
    generation_seconds: float = 0.0  # of successful requests whose audio length is known
    audio_seconds: float = 0.0


@dataclass(slots=True)
class GenerationTotals:
    successful: int = 0
    failed: int = 0
    cancelled: int = 0
    timed: int = 0  # successful requests with a known generation time
    generation_seconds: float = 0.0
    by_engine: dict[str, _EngineTotals] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.successful + self.failed

    @property
    def audio_seconds(self) -> float:
        return sum(engine.audio_seconds for engine in self.by_engine.values())

    @property
    def real_time_factor(self) -> float | None:
        """Seconds of work per second of audio (below 1: faster than real time)."""
        audio = self.audio_seconds
        work = sum(engine.generation_seconds for engine in self.by_engine.values())
        return work / audio if audio > 0 else None

    @property
    def tokens_per_second(self) -> float | None:
        work = sum(engine.generation_seconds for engine in self.by_engine.values())
        tokens = sum(engine.audio_seconds * tokens_per_audio_second(name) for name, engine in self.by_engine.items())
        return tokens / work if work > 0 else None


def tokens_per_audio_second(engine: str) -> float:
    return TOKENS_PER_AUDIO_SECOND.get(engine, DEFAULT_TOKENS_PER_AUDIO_SECOND)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()  # the totals are also read from the metrics endpoint's thread
        self._totals = GenerationTotals()
        labels = ["method", "route", "status"]
        self._http_requests = Counter(
            "tts_http_requests", "HTTP requests by route template and status.", labels, registry=self.registry
        )
        self._http_latency = Histogram(
            "tts_http_request_duration_seconds",
            "Time from request to the end of the response, by route template and status.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        # Bounded: route templates (never raw paths) x methods x statuses; engines x outcomes.
        self._series: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._generations = Counter(
            "tts_generation_requests", "Speech generations by outcome.", ["engine", "outcome"], registry=self.registry
        )
        self._generation_time = Histogram(
            "tts_generation_duration_seconds",
            "Time to generate a whole clip (successful generations).",
            ["engine"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._audio = Counter(
            "tts_audio_generated_seconds", "Seconds of audio generated.", ["engine"], registry=self.registry
        )

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self._child(self._http_requests, labels).inc()
        self._child(self._http_latency, labels).observe(seconds)

    def _child(self, metric: Any, labels: tuple[str, ...]) -> Any:
        """The metric's series for `labels`. labels() validates and locks on every call (a few us each,
        several times per request), so each series is looked up once."""
        key = (metric, labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = metric.labels(*labels)
        return series

    def record_generation(
        self, engine: str, outcome: Outcome, seconds: float | None = None, audio_seconds: float | None = None
    ) -> None:
        """One generation request ended. `audio_seconds` None: its length is not known (a streamed response)."""
        self._child(self._generations, (engine, outcome.value)).inc()
        with self._lock:
            totals = self._totals
            if outcome is Outcome.CANCELLED:
                totals.cancelled += 1
                return
            if outcome is Outcome.FAILURE:
                totals.failed += 1
                return
            totals.successful += 1
            if seconds is not None:
                totals.timed += 1
                totals.generation_seconds += seconds
            if seconds is not None and audio_seconds is not None:
                per_engine = totals.by_engine.setdefault(engine, _EngineTotals())
                per_engine.generation_seconds += seconds
                per_engine.audio_seconds += audio_seconds
        if seconds is not None:
            self._child(self._generation_time, (engine,)).observe(seconds)
        if audio_seconds is not None:
            self._child(self._audio, (engine,)).inc(audio_seconds)

    def totals(self) -> GenerationTotals:
        with self._lock:
            totals = self._totals
            by_engine = {name: replace(e) for name, e in totals.by_engine.items()}
            return GenerationTotals(
                totals.successful, totals.failed, totals.cancelled, totals.timed, totals.generation_seconds, by_engine
            )

    def watch(self, engines: EngineRegistry, queue_depth: Callable[[], int], active_jobs: Callable[[], int]) -> None:
        """Expose live state (read at scrape time) next to the counters."""
        self.registry.register(_LiveCollector(self, engines, queue_depth, active_jobs))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector:
    def __init__(
        self,
        metrics: Metrics,
        engines: EngineRegistry,
        queue_depth: Callable[[], int],
        active_jobs: Callable[[], int],
    ) -> None:
        self._metrics = metrics
        self._engines = engines
        self._queue_depth = queue_depth
        self._active_jobs = active_jobs

    def describe(self) -> list[Metric]:
        return []  # names are only known at collect time; nothing to check for clashes up front

    def collect(self) -> Iterator[Metric]:
        yield _gauge("tts_job_queue_depth", "Async jobs waiting to run.", self._queue_depth())
        yield _gauge("tts_jobs_active", "Async and WebSocket jobs being processed.", self._active_jobs())
        yield from self._engine_metrics()
        rtf = GaugeMetricFamily(
            "tts_real_time_factor",
            "Generation seconds per second of audio (below 1: faster than real time).",
            labels=["engine"],
        )
        for name, engine in self._metrics.totals().by_engine.items():
            if engine.audio_seconds > 0:
                rtf.add_metric([name], engine.generation_seconds / engine.audio_seconds)
        yield rtf

    def _engine_metrics(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("tts_engine_state", "1 for the state each engine is in.", labels=["engine", "state"])
        ready = GaugeMetricFamily("tts_engine_loaded", "1 when the engine is loaded and ready.", labels=["engine"])
        active = GaugeMetricFamily("tts_engine_active_requests", "Syntheses running.", labels=["engine"])
        waiting = GaugeMetricFamily("tts_engine_waiting_requests", "Syntheses waiting for a worker.", labels=["engine"])
        workers = GaugeMetricFamily("tts_engine_workers", "Engine workers.", labels=["engine"])
        for runner in self._engines:
            engine_id = runner.info.id
            for candidate in RunnerState:
                state.add_metric([engine_id, candidate.value], 1.0 if runner.state is candidate else 0.0)
            ready.add_metric([engine_id], 1.0 if runner.state is RunnerState.READY else 0.0)
            load = runner.load()
            active.add_metric([engine_id], load.active)
            waiting.add_metric([engine_id], load.waiting)
            workers.add_metric([engine_id], load.workers)
        yield from (state, ready, active, waiting, workers)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
