"""Dia's memory through the app: the batch sized at load is in /health, and running out of GPU memory anyway
(injected: no GPU here) answers 500 GPU_OUT_OF_MEMORY for the request it hit while the server keeps serving."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from tests.dia_http.conftest import DiaApp, samples_for
from tests.support.audio import decode_bytes
from tts_server.engines.dia.engine import DiaEngine

SPEECH = {"input": "Are you there?", "response_format": "wav"}


async def test_health_says_the_batch_sized_at_load(dia: DiaApp) -> None:
    body = (await dia.client.get("/health")).json()
    engines = {engine["id"]: engine for engine in body["engines"]}
    engine = dia.runner._engine
    assert engine is not None and engine.memory is not None  # sized from this machine's available memory
    assert engines["dia"]["max_batch"] == dia.runner.max_batch == min(4, engine.memory.fits)
    assert engines["espeak"]["max_batch"] is None


def out_of_memory_once(real: Callable[..., Any]) -> Callable[..., Any]:
    calls = {"raised": False}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not calls["raised"]:
            calls["raised"] = True
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real(*args, **kwargs)

    return flaky


def in_decoding_step(engine: DiaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.decoder, "step", out_of_memory_once(engine.decoder.step))


def in_joining(engine: DiaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.decoder, "add", out_of_memory_once(engine.decoder.add))


def in_audio_decoding(engine: DiaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from tts_server.engines.dia import streaming as dia_streaming

    monkeypatch.setattr(dia_streaming, "decode_codes", out_of_memory_once(dia_streaming.decode_codes))


@pytest.mark.parametrize("where", [in_decoding_step, in_joining, in_audio_decoding])
async def test_gpu_out_of_memory_is_a_500_for_that_request_only(
    dia: DiaApp, monkeypatch: pytest.MonkeyPatch, where: Callable[[DiaEngine, pytest.MonkeyPatch], None]
) -> None:
    engine = dia.runner._engine
    assert engine is not None
    await dia.client.post("/v1/audio/speech", json={**SPEECH, "voice": "nova"})  # the voice's prompt, made first
    where(engine, monkeypatch)
    failed = await dia.client.post("/v1/audio/speech", json={**SPEECH, "voice": "nova"})
    assert failed.status_code == 500
    body = failed.json()
    assert body["error_code"] == "GPU_OUT_OF_MEMORY" and "out of memory" in body["detail"]
    again = await dia.client.post("/v1/audio/speech", json={**SPEECH, "voice": "nova"})
    assert again.status_code == 200 and len(decode_bytes(again.content).samples) == samples_for(1)
