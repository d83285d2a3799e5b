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
DEFAULT_MODEL_ALIASES = frozenset({"default", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"})
KNOWN_ENGINE_IDS = ("s1-mini", "dia", "espeak")


class EngineRegistry:
    """The runners of this process, keyed by engine id, with one default."""

    def __init__(
        self,
        runners: dict[str, EngineRunner],
        default_id: str,
        fallback_ids: tuple[str, ...] = (),
        notes: list[str] | None = None,
        not_loaded: dict[str, str] | None = None,
    ) -> None:
        if default_id not in runners or any(fallback not in runners for fallback in fallback_ids):
            raise ValueError(f"default/fallback engine not among {sorted(runners)}")
        self._runners = runners
        self._preferred_id = default_id
        self._fallback_ids = fallback_ids
        self.notes = notes or []  # why an engine is not in use, and how to get it (for /health)
        self._not_loaded = not_loaded or {}  # known engine id -> why this server does not run it

    @property
    def default(self) -> EngineRunner:
        """The preferred engine, or in auto mode the next one in preference order that has not failed."""
        preferred = self._runners[self._preferred_id]
        for engine_id in (self._preferred_id, *self._fallback_ids):
            if self._runners[engine_id].state is not RunnerState.FAILED:
                return self._runners[engine_id]
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
                why = self._not_loaded.get(requested, "it is not enabled")
                raise ModelNotLoaded(
                    f"Model '{requested}' is not loaded on this server: {why} See GET /health for what is loaded.",
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
    """The built-in engine always runs (the last resort); a neural engine joins when named or found."""
    runners: dict[str, EngineRunner] = {"espeak": _build_espeak(settings)}
    not_loaded: dict[str, str] = {}
    for engine_id, why_not, build in (("s1-mini", _why_not_s1, _build_s1), ("dia", _why_not_dia, _build_dia)):
        reason = why_not(settings)
        if reason is None:
            runners[engine_id] = build(settings)
        else:
            not_loaded[engine_id] = reason
    notes = list(not_loaded.values()) if settings.provider is Provider.AUTO else []
    if settings.provider is not Provider.AUTO:
        return EngineRegistry(runners, settings.provider.value, notes=notes, not_loaded=not_loaded)
    order = [engine_id for engine_id in settings.engine_preference_list if engine_id in runners]
    order += [engine_id for engine_id in runners if engine_id not in order]  # unlisted engines, espeak last
    return EngineRegistry(runners, order[0], tuple(order[1:]), notes=notes, not_loaded=not_loaded)


def _why_not_s1(settings: Settings) -> str | None:
    """None when S1-mini should run; else why not, in words for the log and /health."""
    if settings.provider is Provider.S1_MINI:
        return None
    if settings.provider is not Provider.AUTO:
        return f"TTS_PROVIDER={settings.provider.value}."
    from tts_server.engines.s1.loading import how_to_get, s1_weights_available

    if not all(importlib.util.find_spec(name) for name in ("torch", "tiktoken", "huggingface_hub")):
        reason = "S1-mini is not installed: pip install 'tts-server[s1]' to use it."
    elif s1_weights_available(settings):
        return None
    else:
        reason = f"S1-mini weights not found locally ({settings.s1_model}). {how_to_get(settings.s1_model)}"
    log.info(reason)
    return reason


def _why_not_dia(settings: Settings) -> str | None:
    """None when Dia should run; else why not, in words for the log and /health."""
    if settings.provider is Provider.DIA:
        return None
    if settings.provider is not Provider.AUTO:
        return f"TTS_PROVIDER={settings.provider.value}."
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


def _build_s1(settings: Settings) -> EngineRunner:
    from tts_server.runtime.s1_runner import S1Runner

    return S1Runner.from_settings(settings)


def _build_dia(settings: Settings) -> EngineRunner:
    from tts_server.runtime.batching import DiaRunner

    return DiaRunner.from_settings(settings)
