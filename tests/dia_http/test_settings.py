"""TTS_DIA_MAX_NEW_TOKENS: read from the environment (empty means no cap) and handed to the Dia runner."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tts_server.runtime.runners.dia import DiaRunner
from tts_server.settings import Settings


@pytest.mark.parametrize(("value", "expected"), [("", None), ("  ", None), ("40", 40)])
def test_env_value_sets_the_cap(monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None) -> None:
    monkeypatch.setenv("TTS_DIA_MAX_NEW_TOKENS", value)  # .env.example ships it empty
    settings = Settings(_env_file=None)
    assert settings.dia_max_new_tokens == expected
    assert DiaRunner.from_settings(settings).max_new_tokens == expected


def test_cap_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_DIA_MAX_NEW_TOKENS", "0")
    with pytest.raises(ValidationError, match="dia_max_new_tokens"):
        Settings(_env_file=None)
