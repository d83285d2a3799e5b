"""Settings: env names, .env.example in sync, CLI flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tts_server.__main__ import load_settings, parse_args
from tts_server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_lists_every_setting_with_its_default() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("write_env_example", ROOT / "scripts" / "write_env_example.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / ".env.example").read_text() == module.render(), "run scripts/write_env_example.py"


def test_env_variables_use_the_tts_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_PORT", "9000")
    monkeypatch.setenv("TTS_PROVIDER", "espeak")
    monkeypatch.setenv("TTS_MAX_INPUT_CHARS", "100")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.provider.value, settings.max_input_chars) == (9000, "espeak", 100)


def test_dotenv_file_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TTS_PORT=7001\nTTS_CORS_ORIGINS=http://a.example, http://b.example\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.port == 7001
    assert settings.cors_origin_list == ["http://a.example", "http://b.example"]


def test_cli_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TTS_PORT", "9000")
    settings = load_settings(parse_args(["--port", "7999", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]))
    assert (settings.port, settings.host, settings.data_dir) == (7999, "0.0.0.0", tmp_path)


def test_bad_values_are_rejected() -> None:
    with pytest.raises(ValueError):
        Settings(_env_file=None, port=0)
