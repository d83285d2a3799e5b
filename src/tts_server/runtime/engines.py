"""Which engines this process runs, and how a request's `model` picks one."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator

from tts_server.errors import InvalidModel, ModelNotLoaded
from tts_server.runtime.runner import EngineRunner, RunnerState
from tts_server.settings import Provider, Settings

log = logging.getLogger(__name__)

# Names clients send that mean "whatever this server speaks by default".
DEFAULT_MODEL_ALIASES = frozenset({"default", "tts-1", "tts-1-hd", "gpt-4o-mini-tts", "s1-mini"})
KNOWN_ENGINE_IDS = ("dia", "espeak")


class EngineRegistry:
    """The runners of this process, keyed by engine id, with one default."""

    def __init__(
        self,
        runners: dict[str, EngineRunner],
        default_id: str,
        fallback_id: str | None = None,
        notes: list[str] | None = None,
    ) -> None:
        if default_id not in runners or (fallback_id is not None and fallback_id not in runners):
            raise ValueError(f"default/fallback engine not among {sorted(runners)}")
        self._runners = runners
        self._preferred_id = default_id
        self._fallback_id = fallback_id
        self.notes = notes or []  # why an engine is not in use, and how to get it (for /health)

    @property
    def default(self) -> EngineRunner:
        """The preferred engine, or the fallback once the preferred one failed to load (auto mode)."""
        preferred = self._runners[self._preferred_id]
        if preferred.state is RunnerState.FAILED and self._fallback_id is not None:
            return self._runners[self._fallback_id]
        return preferred

    @property
    def default_id(self) -> str:
        return self.default.info.id

    def __iter__(self) -> Iterator[EngineRunner]:
        return iter(self._runners.values())

    def aliases(self) -> list[str]:
        return sorted(DEFAULT_MODEL_ALIASES)

    def accepted_models(self) -> list[str]:
        return sorted(DEFAULT_MODEL_ALIASES | set(self._runners))

    def get(self, model: str | None, *, param: str = "model") -> EngineRunner:
        """The runner for a request's `model`. Unknown ids are a 400; a known engine that is not
        running (or not ready) is a 503, so clients can tell a typo from a server still loading."""
        requested = (model or "default").strip().lower()
        runner = self.default if requested in DEFAULT_MODEL_ALIASES else self._runners.get(requested)
        if runner is None:
            if requested in KNOWN_ENGINE_IDS:
                raise ModelNotLoaded(
                    f"Model '{requested}' is not loaded on this server; it serves '{self.default_id}'. "
                    "See GET /health for what is loaded.",
                    param=param,
                )
            raise InvalidModel(f"Unknown model '{model}'. Accepted: {', '.join(self.accepted_models())}.", param=param)
        ensure_ready(runner)
        return runner

    async def start(self) -> None:
        for runner in self:
            await runner.start()

    async def stop(self) -> None:
        for runner in self:
            try:
                await runner.stop()
            except Exception:  # one runner failing to stop must not keep the others running
                log.exception("stopping engine %s failed", runner.info.id)


def ensure_ready(runner: EngineRunner) -> None:
    if runner.state is RunnerState.READY:
        return
    detail = runner.state_detail or runner.state.value
    retry = {"Retry-After": "5"} if runner.state is RunnerState.LOADING else {}
    error = ModelNotLoaded(f"Model '{runner.info.id}' is not ready: {detail}")
    error.headers.update(retry)
    raise error


def build_registry(settings: Settings) -> EngineRegistry:
    """The built-in engine always runs (it is the fallback); Dia joins when asked for or found."""
    runners: dict[str, EngineRunner] = {"espeak": _build_espeak(settings)}
    dia_missing = _why_not_dia(settings)
    if dia_missing is not None:
        notes = [dia_missing] if settings.provider is Provider.AUTO else []
        return EngineRegistry(runners, "espeak", notes=notes)
    runners["dia"] = _build_dia(settings)
    fallback = "espeak" if settings.provider is Provider.AUTO else None
    return EngineRegistry(runners, "dia", fallback_id=fallback)


def _why_not_dia(settings: Settings) -> str | None:
    """None when Dia should run; else why not, in words for the log and /health."""
    if settings.provider is Provider.DIA:
        return None
    if settings.provider is Provider.ESPEAK:
        return "TTS_PROVIDER=espeak"
    from tts_server.engines.dia_loading import dia_weights_available

    if not all(importlib.util.find_spec(name) for name in ("torch", "transformers")):
        reason = "Dia is not installed: pip install 'tts-server[dia]' to use it. Using the built-in engine."
    else:
        if dia_weights_available(settings):
            return None
        reason = (
            f"Dia weights not found locally ({settings.dia_model}); using the built-in engine. Download them with "
            f"`huggingface-cli download {settings.dia_model}` or set TTS_DIA_MODEL to a folder."
        )
    log.info(reason)
    return reason


def _build_espeak(settings: Settings) -> EngineRunner:
    from tts_server.runtime.process_pool import ProcessPoolRunner

    return ProcessPoolRunner.for_espeak(settings)


def _build_dia(settings: Settings) -> EngineRunner:
    from tts_server.runtime.batching import DiaRunner

    return DiaRunner.from_settings(settings)
