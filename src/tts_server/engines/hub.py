"""Hugging Face hub ids and local folders for model settings: the one place that tells them apart and
knows whether the hub may be asked (HF_HUB_OFFLINE)."""

from __future__ import annotations

import os
from pathlib import Path

_OFFLINE_VALUES = {"1", "true", "yes", "on"}


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").lower() in _OFFLINE_VALUES


def looks_like_path(name: str) -> bool:
    """Hub ids are `owner/name`; anything absolute, relative-dotted, home-based or deeper is a folder."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or Path(name).expanduser().is_dir()
