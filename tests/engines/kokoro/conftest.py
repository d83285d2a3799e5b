"""Kokoro with the real v1.0 int8 model (rebuilt from PyPI parts, tests/support/kokoro_model.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kokoro_model import release_folder
from tts_server.engines.kokoro.engine import KokoroEngine


@pytest.fixture(scope="session")
def kokoro_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return release_folder(tmp_path_factory.mktemp("kokoro-release"))


@pytest.fixture(scope="module")
def kokoro(kokoro_release: Path) -> KokoroEngine:
    engine = KokoroEngine(str(kokoro_release), threads=1)
    engine.load()
    return engine
