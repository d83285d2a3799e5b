"""The real Piper engine with the bundled voice, loaded once per module."""

from __future__ import annotations

import pytest

from tts_server.engines.piper.engine import PiperEngine


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    engine = PiperEngine()
    engine.load()
    return engine
