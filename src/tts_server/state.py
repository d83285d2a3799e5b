"""AppState: everything the process owns, built in the lifespan and reached through dependencies."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tts_server.runtime.config import RuntimeConfig, with_stored_config
from tts_server.runtime.jobs.queue import JobQueue
from tts_server.runtime.jobs.relay import JobEventHub
from tts_server.runtime.ops.cluster import ClusterBus
from tts_server.runtime.ops.database_health import DatabaseMonitor
from tts_server.runtime.ops.memory import HeapTrimmer
from tts_server.runtime.ops.metrics import Metrics
from tts_server.runtime.ops.ratelimit import RateLimiter
from tts_server.runtime.ops.resources import ResourceMonitor
from tts_server.runtime.ops.tasks import TaskSupervisor
from tts_server.runtime.runners.registry import EngineRegistry
from tts_server.runtime.speech import SpeechService
from tts_server.runtime.transcripts import TranscriptService
from tts_server.runtime.voice_service import Transcriber, VoiceService
from tts_server.runtime.voices import VoiceResolver
from tts_server.settings import Settings
from tts_server.store.config import ConfigStore
from tts_server.store.database import Database
from tts_server.store.job_claims import Lease
from tts_server.store.job_files import OUTPUTS_DIR, ResultFiles
from tts_server.store.jobs import JobStore
from tts_server.wyoming_server.server import WyomingServer


@dataclass
class AppState:
    settings: Settings
    engines: EngineRegistry
    voices: VoiceResolver
    speech: SpeechService
    db: Database
    config: RuntimeConfig
    metrics: Metrics
    rate_limiter: RateLimiter
    resources: ResourceMonitor
    jobs: JobQueue
    voice_service: VoiceService
    transcripts: TranscriptService  # Whisper: status, loading, transcription
    bus: ClusterBus  # notices between replicas (silent on SQLite)
    database: DatabaseMonitor
    # async (wav path) -> transcript, raising on failure; set by Whisper. None: uploads keep no transcript.
    transcriber: Transcriber | None = None
    wyoming: WyomingServer | None = None  # Home Assistant's protocol, when TTS_WYOMING_PORT is set
    started_at: float = field(default_factory=time.monotonic)
    started_wall_clock: float = field(default_factory=time.time)
    heap_trimmer: HeapTrimmer = field(init=False)
    _tasks: TaskSupervisor = field(default_factory=lambda: TaskSupervisor("state"), init=False, repr=False)

    def __post_init__(self) -> None:
        self.heap_trimmer = HeapTrimmer(self.is_idle)

    async def start(self) -> None:
        try:
            await self._start_parts()
        except BaseException:  # a part failed (the Wyoming port is taken, say): what did start stops again
            await self.stop()
            raise

    async def _start_parts(self) -> None:
        await self.engines.start()
        # Before the jobs: resumed jobs resolve reference voices and mappings.
        await self.voice_service.start(
            discover=self.settings.auto_discover_prompts, transcriber=lambda: self.transcriber
        )
        await self.bus.start()  # after the voice library, whose ids it reloads on connecting
        await self.jobs.start()
        self._tasks.keep_running("heap-trimmer", self.heap_trimmer.run_periodically)
        self._tasks.keep_running("database-monitor", self.database.run_periodically)
        if self.wyoming is not None:
            await self.wyoming.start()

    async def stop(self) -> None:
        if self.wyoming is not None:
            await self.wyoming.stop()  # first: its connections speak through the engines
        await self._tasks.stop()
        try:
            await self.jobs.stop()  # first: interrupted jobs are put back while the database is open
            await self.engines.stop()
        finally:
            await self.bus.stop()
            await self.voice_service.stop()
            await self.transcripts.close()  # after the voice service: its discovery may still be transcribing
            await self.db.aclose()

    def active_work(self) -> int:
        """Syntheses running or waiting right now, across engines."""
        return sum(runner.load().active + runner.load().waiting for runner in self.engines)

    def is_idle(self) -> bool:
        """No synthesis running or waiting, and no job queued or being processed."""
        return self.active_work() == 0 and self.jobs.depth == 0 and self.jobs.active == 0

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_at


def build_state(settings: Settings) -> AppState:
    if settings.job_workers == 0 and not settings.database_url:
        raise ValueError("TTS_JOB_WORKERS=0 leaves jobs to other replicas, so it needs TTS_DATABASE_URL.")
    db = Database.open(settings.data_dir, settings.database_url)
    bus = ClusterBus(settings.replica_name, None if db.exclusive else db.libpq_url)
    config_store = ConfigStore(db)
    settings = with_stored_config(settings, config_store)  # values saved by PUT /config win over the environment
    engines = build_engines(settings)
    voice_service = VoiceService(
        settings.data_dir,
        db,
        max_upload_bytes=settings.max_upload_bytes,
        max_seconds=settings.max_prompt_seconds,
        auto_transcribe=lambda: settings.auto_transcribe,  # read live: PUT /config may change it
        bus=bus,
    )
    voices = VoiceResolver(settings.default_voice, voice_service)
    speech = SpeechService(engines, voices, max_input_chars=settings.max_input_chars)
    metrics = Metrics()
    job_store = JobStore(db)
    jobs = JobQueue(
        store=job_store,
        files=ResultFiles(settings.data_dir / OUTPUTS_DIR),
        speech=speech,
        engines=engines,
        voices=voices,
        settings=settings,
        metrics=metrics,
        hub=JobEventHub(bus, job_store),
        lease=Lease(settings.replica_name, settings.job_lease_seconds),
    )
    metrics.watch(engines, lambda: jobs.depth, lambda: jobs.active)
    config = RuntimeConfig(settings, config_store, bus)
    # POST /whisper/load applies a whisper_model_size saved by PUT /config without a restart.
    transcripts = TranscriptService.from_settings(settings, lambda: config.view().whisper_model_size)
    return AppState(
        settings=settings,
        engines=engines,
        voices=voices,
        speech=speech,
        db=db,
        config=config,
        metrics=metrics,
        rate_limiter=RateLimiter(settings),
        resources=ResourceMonitor(),
        jobs=jobs,
        voice_service=voice_service,
        transcripts=transcripts,
        transcriber=transcripts.transcriber(),
        wyoming=WyomingServer.from_settings(settings, engines, voices, speech, metrics),
        bus=bus,
        database=DatabaseMonitor(db),
    )


def build_engines(settings: Settings) -> EngineRegistry:
    from tts_server.runtime.runners.registry import build_registry

    return build_registry(settings)
