"""WhisperService against a tiny random checkpoint: states, loading, transcription, errors, threading.

Tests that need openai-whisper skip (through the `tiny_checkpoint` fixture) when the extra is absent;
those about the package missing run either way.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tts_server.asr import whisper as asr
from tts_server.asr.formats import RESPONSE_FORMATS, render_transcription
from tts_server.asr.transcription import Transcription
from tts_server.asr.whisper import SAMPLE_RATE, AsrState, WhisperService, WhisperUnavailable
from tts_server.errors import ErrorCode, InvalidRequest

MakeService = Callable[..., WhisperService]


def state(service: WhisperService) -> AsrState:
    return service.state  # read through a call: mypy would narrow `service.state` between awaits


def tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _wrap(monkeypatch: pytest.MonkeyPatch, name: str, before: Callable[[], object]) -> list[int]:
    """Wrap whisper.<name> to call `before()` first; returns the ids of the threads it ran on."""
    import whisper

    real = getattr(whisper, name)
    threads: list[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        before()
        return real(*args, **kwargs)

    monkeypatch.setattr(whisper, name, wrapper)
    return threads


def test_import_pulls_in_neither_whisper_nor_torch() -> None:
    code = (
        "import sys, tts_server.asr.whisper, tts_server.asr.formats;"
        "print(sorted(m for m in ('whisper', 'torch', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- states and loading ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_load_goes_not_loaded_loading_ready(make_service: MakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    _wrap(monkeypatch, "load_model", lambda: release.wait(10))
    service = make_service()
    assert service.available
    assert state(service) is AsrState.NOT_LOADED
    assert service.error is None

    task = asyncio.create_task(service.load())
    for _ in range(500):
        if state(service) is AsrState.LOADING:
            break
        await asyncio.sleep(0.01)
    assert state(service) is AsrState.LOADING
    release.set()
    await task
    assert state(service) is AsrState.READY
    assert service.device == "cpu"
    assert service.error is None


@pytest.mark.asyncio
async def test_concurrent_loads_load_once(make_service: MakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _wrap(monkeypatch, "load_model", lambda: time.sleep(0.05))
    service = make_service()
    await asyncio.gather(*(service.load() for _ in range(4)))
    assert len(calls) == 1
    assert state(service) is AsrState.READY


@pytest.mark.asyncio
async def test_reload_switches_model(
    make_service: MakeService, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.pt"
    other.write_bytes(tiny_checkpoint.read_bytes())
    calls = _wrap(monkeypatch, "load_model", lambda: None)
    service = make_service()

    await service.load()
    await service.load()  # already loaded: nothing to do
    assert len(calls) == 1
    await service.load(str(other))
    assert len(calls) == 2
    assert service.model_name == str(other)
    assert state(service) is AsrState.READY
    result = await service.transcribe(tone(1.0))  # uses the new model, no further load
    assert isinstance(result, Transcription)
    assert len(calls) == 2


@pytest.mark.asyncio
async def test_auto_device_resolves_on_load(make_service: MakeService) -> None:
    import torch

    service = make_service(device="auto")
    assert service.device == "auto"
    await service.load()
    assert service.device == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.asyncio
async def test_cuda_without_a_gpu_is_unavailable(make_service: MakeService) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    service = make_service(device="cuda")
    with pytest.raises(WhisperUnavailable, match="TTS_WHISPER_DEVICE"):
        await service.load()
    assert state(service) is AsrState.FAILED


def test_unknown_device_is_rejected() -> None:
    with pytest.raises(ValueError):
        WhisperService("tiny", "tpu")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_close_unloads_and_transcribe_loads_again(make_service: MakeService) -> None:
    service = make_service()
    await service.load()
    await service.close()
    assert state(service) is AsrState.NOT_LOADED
    await service.transcribe(tone(0.5))
    assert state(service) is AsrState.READY
    await service.close()
    await service.close()  # idempotent


# --- transcription -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_transcribe_loads_lazily_and_returns_a_transcription(make_service: MakeService) -> None:
    service = make_service()
    assert state(service) is AsrState.NOT_LOADED
    result = await service.transcribe(tone(5.0))
    assert state(service) is AsrState.READY
    assert isinstance(result.text, str)
    assert result.duration == pytest.approx(5.0)
    assert isinstance(result.language, str) and result.language
    assert result.segments, "bounded decoding of 5 s still yields segments"
    for seg in result.segments:
        assert 0.0 <= seg.start <= seg.end <= result.duration
        assert isinstance(seg.text, str)
    for fmt in RESPONSE_FORMATS:  # a real transcription renders in every format
        body, media_type = render_transcription(result, fmt)
        assert body is not None and media_type


@pytest.mark.asyncio
async def test_transcribe_options_reach_whisper(make_service: MakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    import whisper

    seen: list[dict[str, Any]] = []
    real = whisper.transcribe

    def spy(model: Any, audio: Any, **kwargs: Any) -> Any:
        seen.append({"audio": audio, **kwargs})
        return real(model, audio, **kwargs)

    monkeypatch.setattr(whisper, "transcribe", spy)
    service = make_service()
    samples = tone(1.0).astype(np.float64)  # converted to float32 before it reaches whisper
    result = await service.transcribe(samples, language="German", prompt="Guten Tag", temperature=0.5)

    assert result.language == "de"
    (call,) = seen
    assert call["audio"].dtype == np.float32 and call["audio"].ndim == 1
    assert call["language"] == "de"
    assert call["initial_prompt"] == "Guten Tag"
    assert call["fp16"] is False
    assert call["temperature"] == (0.5, 0.7, 0.9)
    assert call["sample_len"] == 8  # transcribe_options pass through

    await service.transcribe(tone(0.5))
    assert seen[1]["temperature"] == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # OpenAI's temperature 0: with fallback
    assert seen[1]["language"] is None and seen[1]["initial_prompt"] is None


@pytest.mark.asyncio
async def test_unsupported_language_is_a_400(make_service: MakeService) -> None:
    service = make_service()
    with pytest.raises(InvalidRequest, match="Unsupported language 'xx'") as info:
        await service.transcribe(tone(0.5), language="xx")
    assert info.value.status_code == 400 and info.value.param == "language"


@pytest.mark.asyncio
async def test_english_only_model(make_service: MakeService, tiny_english_checkpoint: Path) -> None:
    service = make_service(tiny_english_checkpoint)
    result = await service.transcribe(tone(1.0))
    assert result.language == "en"  # no language detection on an English-only model
    with pytest.raises(InvalidRequest, match="English-only"):
        await service.transcribe(tone(1.0), language="de")


@pytest.mark.asyncio
async def test_empty_and_bad_shaped_audio(make_service: MakeService) -> None:
    service = make_service()
    empty = await service.transcribe(np.zeros(0, dtype=np.float32))
    assert empty.duration == 0.0 and empty.text == "" and empty.segments == []
    with pytest.raises(ValueError, match="mono"):
        await service.transcribe(np.zeros((2, 100), dtype=np.float32))


@pytest.mark.asyncio
async def test_concurrent_transcriptions_run_one_at_a_time(
    make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    active, peak = 0, 0
    lock = threading.Lock()
    import whisper

    real = whisper.transcribe

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.02)
            return real(*args, **kwargs)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(whisper, "transcribe", counting)
    service = make_service()
    results = await asyncio.gather(*(service.transcribe(tone(1.0 + i / 4)) for i in range(5)))
    assert peak == 1
    assert [r.duration for r in results] == [1.0, 1.25, 1.5, 1.75, 2.0]


@pytest.mark.asyncio
async def test_cancelled_transcription_does_not_overlap_the_next(
    make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    overlap: list[bool] = []
    running = threading.Lock()
    import whisper

    real = whisper.transcribe

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not running.acquire(blocking=False):
            overlap.append(True)
            running.acquire()
        try:
            started.set()
            release.wait(10)
            return real(*args, **kwargs)
        finally:
            running.release()

    monkeypatch.setattr(whisper, "transcribe", guarded)
    service = make_service()
    first = asyncio.create_task(service.transcribe(tone(0.5)))
    await asyncio.to_thread(started.wait, 10)
    first.cancel()  # the caller goes away; its worker thread runs on
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.create_task(service.transcribe(tone(0.5)))
    await asyncio.sleep(0.05)
    release.set()
    assert isinstance(await second, Transcription)
    assert overlap == []


@pytest.mark.asyncio
async def test_event_loop_keeps_running_during_load_and_transcribe(
    make_service: MakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each whisper call blocks for 0.5 s: on the loop, that would stall the ticker for as long.
    load_threads = _wrap(monkeypatch, "load_model", lambda: time.sleep(0.5))
    run_threads = _wrap(monkeypatch, "transcribe", lambda: time.sleep(0.5))
    service = make_service()
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await service.load()
    await service.transcribe(tone(2.0))
    stop.set()
    await tick

    loop_thread = threading.get_ident()
    assert load_threads and run_threads
    assert loop_thread not in load_threads + run_threads
    assert len(gaps) > 20
    assert max(gaps) < 0.25, f"the loop stalled for {max(gaps):.3f} s"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_missing_checkpoint_file(make_service: MakeService, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    service = make_service(missing)
    with pytest.raises(WhisperUnavailable) as info:
        await service.load()
    message = info.value.message
    assert str(missing) in message and "TTS_WHISPER_MODEL" in message and "turbo" in message
    assert info.value.status_code == 503 and info.value.code is ErrorCode.WHISPER_NOT_AVAILABLE
    assert state(service) is AsrState.FAILED
    assert service.error == message
    with pytest.raises(WhisperUnavailable):  # transcribe tries the load again and fails the same way
        await service.transcribe(tone(0.5))


@pytest.mark.asyncio
async def test_garbage_checkpoint_file(make_service: MakeService, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 100)
    service = make_service(garbage)
    with pytest.raises(WhisperUnavailable, match="Could not load the Whisper model") as info:
        await service.load()
    assert "weights_only" not in info.value.message  # not torch's advice to unpickle arbitrary code
    assert "model_state_dict" in info.value.message
    assert state(service) is AsrState.FAILED


@pytest.mark.asyncio
async def test_checkpoint_without_dims(make_service: MakeService, tmp_path: Path) -> None:
    import torch

    bad = tmp_path / "bad.pt"
    torch.save({"model_state_dict": {}}, bad)
    with pytest.raises(WhisperUnavailable, match="KeyError"):
        await make_service(bad).load()


@pytest.mark.asyncio
async def test_unknown_size_name(make_service: MakeService) -> None:
    service = make_service("huge")
    with pytest.raises(WhisperUnavailable, match="neither a size name") as info:
        await service.load()
    assert "large-v3" in info.value.message and "TTS_WHISPER_MODEL" in info.value.message


@pytest.mark.asyncio
async def test_size_not_cached_offline(
    make_service: MakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)  # never download in tests, even with internet
    cache = tmp_path / "cache"
    service = make_service("tiny", download_root=cache)
    with pytest.raises(WhisperUnavailable) as info:
        await service.load()
    message = info.value.message
    assert str(cache / "tiny.pt") in message
    assert "Name or service not known" in message
    assert "internet" in message and "TTS_WHISPER_MODEL" in message
    assert state(service) is AsrState.FAILED and service.model_name == "tiny"


@pytest.mark.asyncio
async def test_a_failed_download_is_not_retried_by_every_transcription(
    make_service: MakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a network that drops packets silently each try would hang; an explicit load still tries."""
    tries: list[str] = []

    def offline(url: Any, *args: Any, **kwargs: Any) -> Any:
        tries.append(str(url))
        raise urllib.error.URLError("Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    service = make_service("tiny", download_root=tmp_path / "cache")
    for _ in range(3):
        with pytest.raises(WhisperUnavailable) as info:
            await service.transcribe(tone(1.0))
    assert len(tries) == 1
    assert "Network is unreachable" in info.value.message and "POST /whisper/load" in info.value.message
    with pytest.raises(WhisperUnavailable):
        await service.load()
    assert len(tries) == 2
    monkeypatch.setattr(asr, "RETRY_FAILED_LOAD_AFTER_S", 0.0)  # the wait is over: the next one tries again
    with pytest.raises(WhisperUnavailable):
        await service.transcribe(tone(1.0))
    assert len(tries) == 3


@pytest.mark.asyncio
async def test_failed_load_recovers_with_a_good_model(
    make_service: MakeService, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    service = make_service(tmp_path / "nope.pt")
    with pytest.raises(WhisperUnavailable):
        await service.load()
    await service.load(str(tiny_checkpoint))
    assert state(service) is AsrState.READY and service.error is None


# --- the package missing -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "_missing_requirements", lambda: ["openai-whisper"])
    service = WhisperService("base", "auto")
    assert not service.available
    assert state(service) is AsrState.UNAVAILABLE
    assert "pip install 'tts-server[whisper]'" in (service.error or "")
    for call in (service.load(), service.transcribe(tone(0.5))):
        with pytest.raises(WhisperUnavailable, match=r"not installed \(missing: openai-whisper\)") as info:
            await call
        assert "pip install 'tts-server[whisper]'" in info.value.message
        assert info.value.status_code == 503


@pytest.mark.asyncio
async def test_package_that_fails_to_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "_missing_requirements", lambda: [])

    def broken() -> Any:
        raise ImportError("No module named 'numba'")

    monkeypatch.setattr(asr, "_import_whisper", broken)
    service = WhisperService("base", "cpu")
    assert service.available  # nothing looks missing until the import is tried
    with pytest.raises(WhisperUnavailable, match="numba") as info:
        await service.load()
    assert "pip install 'tts-server[whisper]'" in info.value.message
    assert not service.available
    assert state(service) is AsrState.UNAVAILABLE
