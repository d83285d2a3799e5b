"""Fixtures for the Dia engine: tiny random checkpoints loaded offline through the real loading code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.engines.dia.tiny_models import TinyDiaFolders, save_tiny_dia
from tests.support.tiny_torch import offline_one_thread
from tts_server.engines.base import AudioChunk, SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.dia.engine import DiaEngine
from tts_server.engines.dia.loading import DiaBundle, load_dia
from tts_server.runtime.runners.base import RunnerState
from tts_server.runtime.runners.dia import DiaRunner

CHUNK_FRAMES = 16  # small streaming windows, so short test clips still come in several chunks
PROMPT_FRAMES = 16  # built-in voices' stored prompts: short, so making one costs a test little


@pytest.fixture(scope="package", autouse=True)
def offline_single_threaded() -> Iterator[None]:
    with offline_one_thread():
        yield


@pytest.fixture(scope="session")
def tiny_dia(tmp_path_factory: pytest.TempPathFactory) -> TinyDiaFolders:
    return save_tiny_dia(tmp_path_factory.mktemp("tiny-dia"))


@pytest.fixture(scope="session")
def dia_bundle(tiny_dia: TinyDiaFolders) -> DiaBundle:
    return load_dia(str(tiny_dia.model), str(tiny_dia.codec), device="cpu", dtype="auto")


@pytest.fixture
def dia_engine(dia_bundle: DiaBundle) -> DiaEngine:
    return DiaEngine(
        dia_bundle,
        max_batch=4,
        first_chunk_frames=CHUNK_FRAMES,
        chunk_frames=CHUNK_FRAMES,
        voice_prompt_frames=PROMPT_FRAMES,
    )


@pytest.fixture
async def dia_runner(dia_bundle: DiaBundle) -> AsyncIterator[DiaRunner]:
    runner = make_runner(dia_bundle)
    await started(runner)
    yield runner
    await runner.stop()


def make_runner(bundle: DiaBundle, **options: Any) -> DiaRunner:
    values: dict[str, Any] = {"model": "unused", "codec": "unused", "max_batch": 4, "max_queue": 4,
                              "first_chunk_frames": CHUNK_FRAMES, "chunk_frames": CHUNK_FRAMES,
                              "voice_prompt_frames": PROMPT_FRAMES}  # fmt: skip
    values.update(options)
    return DiaRunner(loader=lambda: bundle, **values)


async def started(runner: DiaRunner, timeout: float = 20.0) -> DiaRunner:
    import asyncio

    await runner.start()
    for _ in range(int(timeout / 0.01)):
        if runner.state is not RunnerState.LOADING:
            break
        await asyncio.sleep(0.01)
    return runner


def request(
    text: str = "Hello there, this is a test.",
    *,
    frames: int = 40,
    seed: int | None = 7,
    voice: VoiceSelection | None = None,
    request_id: str = "",
    **sampling: Any,
) -> SynthesisRequest:
    return SynthesisRequest(
        text=text,
        voice=voice or VoiceSelection("default", builtin="default"),
        sampling=SamplingParams(max_new_tokens=frames, seed=seed, **sampling),
        request_id=request_id,
    )


async def collect(chunks: AsyncIterator[AudioChunk]) -> np.ndarray:
    parts = [chunk.samples async for chunk in chunks]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit mono WAV with the standard library only."""
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path
