"""Hugging Face hub ids and local folders for model settings: the one place that tells them apart, knows
whether the hub may be asked (HF_HUB_OFFLINE), and turns a hub id into a local snapshot.

Each engine keeps its own checks of a folder's files and its own advice on how to get them; what is the same
for every engine (the cache first, then a download unless offline, and the errors each step ends in) is here.
Importing this module is cheap: huggingface_hub is imported when it is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from tts_server.engines.base import EngineLoadError

log = logging.getLogger(__name__)

_OFFLINE_VALUES = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").lower() in _OFFLINE_VALUES


def looks_like_path(name: str) -> bool:
    """Hub ids are `owner/name`; anything absolute, relative-dotted, home-based or deeper is a folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or Path(name).expanduser().is_dir()


def cached_in_hub(repo_id: str, filename: str) -> bool:
    """Whether `filename` of `repo_id` is in the local Hugging Face cache (never asks the hub)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, filename), str)


def available_locally(name: str, *, folder_ready: Callable[[Path], bool], cache_ready: Callable[[str], bool]) -> bool:
    """Whether the model `name` (a folder or a hub id) is on this machine: `folder_ready` judges a folder,
    `cache_ready` a hub id's cached files. No network."""
    try:
        if looks_like_path(name):
            return folder_ready(Path(name).expanduser())
        return cache_ready(name)
    except Exception:  # a malformed id or an unreadable cache simply means "not here"
        return False


def hub_snapshot(name: str, *, what: str, how_to_get: Callable[[str], str]) -> Path:
    """The local snapshot of hub id `name`: from the cache, else downloaded unless the hub is offline.

    Raises EngineLoadError naming `what` and ending with `how_to_get(name)`."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        if hub_offline():
            raise EngineLoadError(
                f"{what} '{name}' is not in the Hugging Face cache and the hub is offline (HF_HUB_OFFLINE). "
                + how_to_get(name)
            ) from None
    try:
        log.info("Downloading %s '%s' from the Hugging Face hub", what, name)
        return Path(snapshot_download(name))
    except Exception as exc:
        raise EngineLoadError(
            f"{what} '{name}' is not in the Hugging Face cache and could not be downloaded ({exc}). " + how_to_get(name)
        ) from None
