"""`tts-server check`: the engines that run here (espeak; a tiny random Dia through its settings), Whisper when a
model loads (a tiny random checkpoint) and "not available" when none does, a failing engine's exit status."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.asr.conftest import build_tiny_checkpoint
from tests.conftest import make_settings
from tts_server.__main__ import main
from tts_server.selfcheck import CheckReport, EngineCheck, render_table, run_checks, words_heard


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory (no .env) and no TTS_* variables from the machine."""
    for name in list(os.environ):
        if name.startswith("TTS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TTS_WORKERS", "1")
    monkeypatch.setenv("TTS_WHISPER_MODEL", str(tmp_path / "no-whisper.pt"))
    return tmp_path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    code = exited.value.code
    assert isinstance(code, int)
    return code, capsys.readouterr().out


def _row(table: str, engine: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(engine + " "))
    return re.split(r"\s{2,}", line)


def test_espeak_speaks_and_whisper_is_not_available(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(["check", "--provider", "espeak"], capsys)
    assert code == 0, out
    header = re.split(r"\s{2,}", out.splitlines()[0])
    assert header == ["engine", "device", "load", "first audio", "RTF", "audio", "words heard", "status"]
    engine, device, load, first, rtf, audio, words, status = _row(out, "espeak")
    assert (engine, device, words, status) == ("espeak", "cpu", "not available", "ok")
    assert load.endswith(" s") and first.endswith(" s") and float(rtf) > 0
    assert 2.0 < float(audio.removesuffix(" s")) < 15.0  # fifteen words at espeak's rate


def test_whisper_transcribes_when_a_model_loads(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = cli_env / "tiny-whisper.pt"
    build_tiny_checkpoint(checkpoint)  # random weights: it hears no real words, but the count is its own
    monkeypatch.setenv("TTS_WHISPER_MODEL", str(checkpoint))
    code, out = _run(["check", "--provider", "espeak", "--text", "Hello there, my friend."], capsys)
    assert code == 0, out
    assert re.fullmatch(r"\d/4", _row(out, "espeak")[6])
    code, out = _run(["check", "--provider", "espeak", "--no-whisper"], capsys)
    assert code == 0 and _row(out, "espeak")[6] == "-"


def test_words_heard_counts_the_expected_words() -> None:
    assert words_heard("Hello there, my friend.", " hello FRIEND, how are you?") == "2/4"
    assert words_heard("It's 5 o'clock.", "it's five o'clock") == "2/3"
    assert words_heard("Hello.", "") == "0/1"


def test_dia_through_its_settings(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.dia_http.conftest import SEGMENT_SECONDS
    from tests.engines.dia.tiny_models import save_tiny_dia

    folders = save_tiny_dia(cli_env / "weights")
    settings = {"TTS_PROVIDER": "dia", "TTS_DIA_MODEL": str(folders.model), "TTS_DIA_CODEC": str(folders.codec)}
    for name, value in {**settings, "TTS_DEVICE": "cpu", "TTS_DIA_MAX_NEW_TOKENS": "40", "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)
    code, out = _run(["check", "--no-whisper"], capsys)
    assert code == 0, out
    assert _row(out, "dia")[1] == "cpu" and _row(out, "dia")[-1] == "ok" and _row(out, "espeak")[-1] == "ok"
    assert float(_row(out, "dia")[5].removesuffix(" s")) == pytest.approx(SEGMENT_SECONDS, abs=0.01)  # one segment


def test_an_engine_that_fails_to_load_fails_the_check(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TTS_DIA_MODEL", str(cli_env / "no-such-dia"))
    code, out = _run(["check", "--provider", "dia", "--no-whisper"], capsys)
    assert code == 1
    assert _row(out, "dia")[-1] == "FAILED" and _row(out, "espeak")[-1] == "ok"
    assert re.search(r"^dia: did not load: .+", out, re.MULTILINE), out


async def test_report_structure(data_dir: Path) -> None:
    report = await run_checks(make_settings(data_dir, workers=1), transcribe=False)
    [check] = report.checks
    assert check.engine == "espeak" and check.ok and report.ok
    assert check.load_seconds and check.first_audio_seconds and check.synthesis_seconds and check.audio_seconds
    assert check.first_audio_seconds <= check.synthesis_seconds
    assert check.real_time_factor == pytest.approx(check.synthesis_seconds / check.audio_seconds)
    assert report.notes == []  # TTS_PROVIDER=espeak: nothing left out to explain


def test_a_silent_or_failed_row_is_explained_under_the_table() -> None:
    report = CheckReport(
        [EngineCheck("espeak", "cpu", 0.5, 0.01, 0.05, 2.0, "12/14"), EngineCheck("dia", error="the audio is silent")],
        ["Dia weights not found locally"],
    )
    table = render_table(report)
    assert not report.ok
    assert _row(table, "espeak") == ["espeak", "cpu", "0.50 s", "0.01 s", "0.025", "2.00 s", "12/14", "ok"]
    assert _row(table, "dia")[-1] == "FAILED"
    assert table.splitlines()[-2:] == ["dia: the audio is silent", "note: Dia weights not found locally"]


def test_the_installed_command(cli_env: Path) -> None:
    """Through a real process, as a user runs it (worker processes and all)."""
    result = subprocess.run(
        [sys.executable, "-m", "tts_server", "check", "--provider", "espeak", "--no-whisper"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr
    assert _row(result.stdout, "espeak")[-1] == "ok"
    assert "speaking with espeak" in result.stderr  # progress goes to stderr, the report to stdout
