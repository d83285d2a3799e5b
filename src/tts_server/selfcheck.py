"""`tts-server check`: what a user runs after installing weights on a new machine.

It loads the configured engines as the server would (one after another, so each load is timed alone), speaks a
test sentence with each through the server's own SpeechService, decodes the WAV it gets, transcribes it with
Whisper when a Whisper model can be loaded, and prints one row per engine: device, load time, time to the first
audio, real-time factor, and how many of the sentence's words Whisper heard. Any engine that fails to load, to
speak, or speaks only silence makes the exit status 1.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from tts_server.asr.whisper import SAMPLE_RATE as WHISPER_RATE
from tts_server.asr.whisper import WhisperService, WhisperUnavailable
from tts_server.audio.decode import decode_audio, is_silent
from tts_server.errors import ServiceError
from tts_server.runtime.runners.base import EngineRunner, RunnerState
from tts_server.runtime.runners.registry import build_registry
from tts_server.runtime.speech import SpeechOptions, SpeechService
from tts_server.runtime.voices import VoiceResolver
from tts_server.settings import Settings

TEST_SENTENCE = "Hello! This is a short test of the speech server, spoken by every engine it loads."
LOAD_TIMEOUT_S = 1800.0  # a large model from a slow disk; a hung load still ends the check
_POLL_S = 0.05


@dataclass
class EngineCheck:
    """One engine's row of the report; `error` set when the engine failed."""

    engine: str
    device: str = "-"
    load_seconds: float | None = None
    first_audio_seconds: float | None = None
    synthesis_seconds: float | None = None
    audio_seconds: float | None = None
    words_heard: str = "-"
    error: str | None = None
    # the decoded audio at Whisper's rate, until it is transcribed
    samples_16k: NDArray[np.float32] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def real_time_factor(self) -> float | None:
        """Seconds of synthesis per second of audio: under 1 is faster than real time."""
        if self.synthesis_seconds is None or not self.audio_seconds:
            return None
        return self.synthesis_seconds / self.audio_seconds


@dataclass
class CheckReport:
    checks: list[EngineCheck]
    notes: list[str]  # why an engine a user may expect is not among those checked (weights not found, ...)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


async def run_checks(settings: Settings, *, text: str = TEST_SENTENCE, transcribe: bool = True) -> CheckReport:
    """Load, speak and (with `transcribe`) transcribe with every engine of the configured registry."""
    registry = build_registry(settings)
    speech = SpeechService(registry, VoiceResolver(settings.default_voice), max_input_chars=settings.max_input_chars)
    checks: list[EngineCheck] = []
    try:
        for runner in registry:
            checks.append(await _check_engine(runner, speech, text))
    finally:
        await registry.stop()
    if transcribe:
        await _transcribe_all(settings, checks, text)
    return CheckReport(checks, list(registry.notes))


async def _check_engine(runner: EngineRunner, speech: SpeechService, text: str) -> EngineCheck:
    check = EngineCheck(runner.info.id)
    _progress(f"loading {runner.info.id} ...")
    started = time.perf_counter()
    await runner.start()
    while runner.state is RunnerState.LOADING and time.perf_counter() - started < LOAD_TIMEOUT_S:
        await asyncio.sleep(_POLL_S)
    check.load_seconds = time.perf_counter() - started
    check.device = runner.info.device
    if runner.state is not RunnerState.READY:
        check.error = f"did not load: {runner.state_detail or runner.state.value}"
        return check
    _progress(f"speaking with {runner.info.id} ...")
    try:
        await _speak(check, speech, text)
    except ServiceError as exc:
        check.error = exc.message
    except Exception as exc:  # an engine bug: the report says so instead of a traceback
        check.error = f"{type(exc).__name__}: {exc}"
    return check


async def _speak(check: EngineCheck, speech: SpeechService, text: str) -> None:
    started = time.perf_counter()
    stream = await speech.open_stream(SpeechOptions(text=text, voice=None, model=check.engine, response_format="wav"))
    check.first_audio_seconds = time.perf_counter() - started
    wav = await stream.read_all()
    check.synthesis_seconds = time.perf_counter() - started
    decoded = await asyncio.to_thread(decode_audio, wav)
    check.audio_seconds = decoded.duration
    if decoded.duration == 0 or is_silent(decoded.samples):
        check.error = "the audio is silent"
        return
    check.samples_16k = (await asyncio.to_thread(decode_audio, wav, target_rate=WHISPER_RATE)).samples


async def _transcribe_all(settings: Settings, checks: list[EngineCheck], text: str) -> None:
    whisper = WhisperService(settings.whisper_model, settings.whisper_device)
    spoken = [check for check in checks if check.samples_16k is not None]
    try:
        if spoken:
            _progress(f"loading Whisper ({settings.whisper_model}) ...")
            await whisper.load()
        for check in spoken:
            assert check.samples_16k is not None
            heard = await whisper.transcribe(check.samples_16k, language="en")
            check.words_heard = words_heard(text, heard.text)
            check.samples_16k = None
    except WhisperUnavailable as exc:
        for check in spoken:
            check.words_heard = "not available"
        _progress(f"Whisper not available: {exc.message}")
    finally:
        await whisper.close()


def words_heard(expected: str, transcript: str) -> str:
    """`9/14`: how many of the expected words appear in the transcript (case and punctuation aside)."""
    wanted = _words(expected)
    heard = set(_words(transcript))
    return f"{sum(word in heard for word in wanted)}/{len(wanted)}"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def render_table(report: CheckReport) -> str:
    """The report as a plain-text table, one engine per row, with what went wrong under it."""
    checks = report.checks
    header = ("engine", "device", "load", "first audio", "RTF", "audio", "words heard", "status")
    rows = [header, *(_row(check) for check in checks)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += [f"{check.engine}: {check.error}" for check in checks if check.error]
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def _row(check: EngineCheck) -> tuple[str, ...]:
    rtf = check.real_time_factor
    return (
        check.engine,
        check.device,
        _seconds(check.load_seconds),
        _seconds(check.first_audio_seconds),
        "-" if rtf is None else f"{rtf:.3g}",
        _seconds(check.audio_seconds),
        check.words_heard,
        "ok" if check.ok else "FAILED",
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def check_command(settings: Settings, *, text: str, transcribe: bool, out: TextIO | None = None) -> int:
    """Run the checks and print the report; the exit status: 0 when every engine spoke, else 1."""
    report = asyncio.run(run_checks(settings, text=text, transcribe=transcribe))
    print(render_table(report), file=out or sys.stdout)
    return 0 if report.ok else 1


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
