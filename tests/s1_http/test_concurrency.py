"""Concurrent HTTP requests are decoded together in one S1-mini batch, each with its own length and seed;
running out of GPU memory fails one request with 500 GPU_OUT_OF_MEMORY and the server serves on."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import torch

from tests.s1_http.conftest import S1App, samples_for
from tests.support.audio import decode_bytes
from tts_server.engines.s1.text import chunk_text

TEXTS = {  # chunk_length 100: one, two and three chunks
    1: "A single short sentence.",
    2: " ".join(f"This is sentence {w} of the text, with quite a few words in it." for w in ("one", "two")),
    3: " ".join(f"This is sentence {w} of the text, with quite a few words in it." for w in ("one", "two", "three")),
}


def test_the_texts_have_one_two_and_three_chunks() -> None:
    assert {chunks: len(chunk_text(text, 100)) for chunks, text in TEXTS.items()} == {1: 1, 2: 2, 3: 3}


def body(chunks: int, seed: int) -> dict[str, Any]:
    return {"input": TEXTS[chunks], "chunk_length": 100, "seed": seed, "response_format": "wav"}


async def test_concurrent_requests_share_steps_and_keep_their_own_audio(s1: S1App) -> None:
    client = s1.client
    alone = {}
    for chunks in TEXTS:
        response = await client.post("/v1/audio/speech/extended", json=body(chunks, seed=10 + chunks))
        alone[chunks] = decode_bytes(response.content).samples
    stats = s1.runner.stats
    assert stats is not None
    steps_alone = stats.steps

    responses = await asyncio.gather(
        *(client.post("/v1/audio/speech/extended", json=body(chunks, seed=10 + chunks)) for chunks in TEXTS),
        client.post("/generate", json={"text": "Through the Dia route at the same time.", "voice_id": "aria"}),
    )
    assert all(response.status_code == 200 for response in responses), [r.text for r in responses]
    for chunks, response in zip(TEXTS, responses, strict=False):
        samples = decode_bytes(response.content).samples
        assert len(samples) == samples_for(chunks)
        # batched rows keep their own sampling: the same codes, the same audio to the codec's batch rounding
        np.testing.assert_allclose(samples, alone[chunks], rtol=0, atol=1.5 / 32768)  # one step of 16-bit audio
    assert max(stats.batch_sizes) > 1
    assert stats.steps - steps_alone < steps_alone  # together, in fewer steps than one after another


async def test_out_of_memory_is_a_500_for_that_request_and_the_server_serves_on(
    s1: S1App, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = s1.runner._engine
    assert engine is not None
    await s1.client.post("/v1/audio/speech", json={"input": "Warm the default voice first."})
    step = engine.generator.step
    failures = iter([True])

    def out_of_memory_once() -> Any:
        if next(failures, False):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return step()

    monkeypatch.setattr(engine.generator, "step", out_of_memory_once)
    failed = await s1.client.post("/v1/audio/speech", json={"input": "This one runs out of memory."})
    assert failed.status_code == 500
    assert failed.json()["error_code"] == "GPU_OUT_OF_MEMORY"
    served = await s1.client.post("/v1/audio/speech", json={"input": "This one is served."})
    assert served.status_code == 200 and len(decode_bytes(served.content).samples) == samples_for(1)
    health = (await s1.client.get("/health")).json()
    assert health["status"] == "healthy"
