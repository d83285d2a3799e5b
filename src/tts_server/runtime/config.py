"""The runtime configuration behind GET/PUT /config: validated, persisted, applied live where it can be.

The config keys are the Dia server's names for some of our settings (gpu_mode is `device`,
worker_count is `workers`, ...). Values changed through PUT are stored in the database and, at the
next start, override the environment. Live keys are written onto the running Settings object, which
every part of the server reads at the time it needs the value; the other keys are saved and reported
as needing a restart, and the running server keeps its old value until then.

Replicas on one database share the config: a change saved on one is announced on the cluster bus, and
every other replica reads the stored values again and applies the live ones (also whenever its bus
reconnects, in case it missed an announcement).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from tts_server.errors import InvalidRequest
from tts_server.runtime.ops.cluster import ClusterBus
from tts_server.schemas.config import ServerConfig
from tts_server.settings import DeviceChoice, Settings
from tts_server.store.config import ConfigStore

log = logging.getLogger(__name__)

# config key -> Settings field
SETTING_FOR_KEY: Mapping[str, str] = {
    "debug_mode": "debug_mode",
    "save_outputs": "save_outputs",
    "show_prompts": "show_prompts",
    "output_retention_hours": "output_retention_hours",
    "auto_discover_prompts": "auto_discover_prompts",
    "auto_transcribe": "auto_transcribe",
    "whisper_model_size": "whisper_model",
    "gpu_mode": "device",
    "worker_count": "workers",
    "torch_compile_enabled": "dia_compile",
    "rate_limit_enabled": "rate_limit_enabled",
    "rate_limit_generate": "rate_limit_generate",
    "rate_limit_upload": "rate_limit_upload",
    "rate_limit_jobs": "rate_limit_jobs",
}

# Read once, when the engines, Whisper or the voice library start.
RESTART_KEYS = frozenset(
    {"auto_discover_prompts", "whisper_model_size", "gpu_mode", "worker_count", "torch_compile_enabled"}
)

_SERVER_LOGGER = "tts_server"
CONFIG_CHANGED = "tts_config"


@dataclass(frozen=True, slots=True)
class ConfigChange:
    updated: list[str]
    restart_required: list[str]
    config: ServerConfig


def config_of(settings: Settings) -> ServerConfig:
    values = {key: getattr(settings, field) for key, field in SETTING_FOR_KEY.items()}
    values["gpu_mode"] = DeviceChoice(values["gpu_mode"]).value
    # Not validated: the environment's values are the baseline even where PUT would refuse them
    # (a Whisper checkpoint path that does not exist yet); only changes are validated.
    return ServerConfig.model_construct(**values)


def with_stored_config(settings: Settings, store: ConfigStore) -> Settings:
    """A copy of `settings` with the values saved by earlier PUT /config calls. Blocking (start-up)."""
    accepted = _acceptable(config_of(settings), store.load())
    if accepted:
        log.info("runtime config from the database: %s", ", ".join(sorted(accepted)))
    return settings.model_copy(update=_as_settings(accepted))


def _acceptable(current: ServerConfig, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The stored values that still validate (one an older server stored may not)."""
    accepted: dict[str, Any] = {}
    for key, value in stored.items():
        try:
            validated_change(current, {key: value})
        except (ValidationError, InvalidRequest) as exc:
            log.warning("ignoring stored config %s=%r: %s", key, value, exc)
            continue
        accepted[key] = value
    return accepted


class RuntimeConfig:
    def __init__(self, settings: Settings, store: ConfigStore, bus: ClusterBus | None = None) -> None:
        self._settings = settings
        self._store = store
        self._saved = config_of(settings)
        self._bus = bus
        apply_log_level(settings.debug_mode)
        if bus is not None:
            bus.subscribe(CONFIG_CHANGED, lambda payload: self.reload())
            bus.on_connect(self.reload)

    def view(self) -> ServerConfig:
        """The saved configuration: live values, and restart-only values as they will be after a restart."""
        return self._saved

    async def update(self, changes: object) -> ConfigChange:
        """Validate all of `changes`, save them in one transaction, then apply the live ones."""
        if not isinstance(changes, dict):
            raise InvalidRequest("The body must be a JSON object of config keys and values.")
        try:
            merged = validated_change(self._saved, changes)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InvalidRequest(_first_message(exc), param=str(error["loc"][0]) if error["loc"] else None) from None
        updated = [key for key in changes if getattr(merged, key) != getattr(self._saved, key)]
        await self._store.save({key: getattr(merged, key) for key in updated})
        self._saved = merged
        self._apply_live({key: getattr(merged, key) for key in updated if key not in RESTART_KEYS})
        if updated and self._bus is not None:
            self._bus.publish(CONFIG_CHANGED, {"keys": updated})
        return ConfigChange(updated, [key for key in updated if key in RESTART_KEYS], merged)

    async def reload(self) -> None:
        """Read the stored values again (another replica changed them) and apply the live ones."""
        accepted = _acceptable(self._saved, await self._store.load_async())
        changed = {key: value for key, value in accepted.items() if getattr(self._saved, key) != value}
        if not changed:
            return
        self._saved = validated_change(self._saved, changed)
        self._apply_live({key: getattr(self._saved, key) for key in changed if key not in RESTART_KEYS})

    def _apply_live(self, values: Mapping[str, Any]) -> None:
        for field, value in _as_settings(values).items():
            setattr(self._settings, field, value)
        if "debug_mode" in values:
            apply_log_level(bool(values["debug_mode"]))
        if values:
            log.info("runtime config changed: %s", ", ".join(f"{key}={value!r}" for key, value in values.items()))


def validated_change(base: ServerConfig, changes: Mapping[str, Any]) -> ServerConfig:
    """`base` with `changes`, each validated as the PUT body demands; `base` itself is left alone."""
    unknown = sorted(set(changes) - set(SETTING_FOR_KEY))
    if unknown:
        known = ", ".join(SETTING_FOR_KEY)
        raise InvalidRequest(f"Unknown config key(s): {', '.join(unknown)}. Known keys: {known}.", param=unknown[0])
    merged = base.model_copy()
    for key, value in changes.items():
        current = getattr(base, key)
        if type(value) is type(current) and value == current:
            continue  # unchanged (a GET body sent back): even a baseline PUT would refuse is kept
        setattr(merged, key, value)  # validate_assignment: strict, per field, with the field's validators
    return merged


def apply_log_level(debug: bool) -> None:
    """debug_mode: the server's own loggers log at DEBUG; off, they follow the root logger again."""
    logging.getLogger(_SERVER_LOGGER).setLevel(logging.DEBUG if debug else logging.NOTSET)


def _as_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    converted = {SETTING_FOR_KEY[key]: value for key, value in values.items()}
    if "device" in converted:
        converted["device"] = DeviceChoice(converted["device"])
    return converted


def _first_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"
