"""Concurrent HTTP requests are decoded together in one Dia batch, each with its own length."""

from __future__ import annotations

import asyncio

from tests.dia_http.conftest import HOP, DiaAppFactory
from tests.support.audio import decode_bytes
from tests.support.worker_gate import WorkerGate, admitted, until

CAP = 160  # TTS_DIA_MAX_NEW_TOKENS for this test: room for requests of different lengths under it
DELAY_STEPS = 16  # Dia's delay pattern adds 15 steps (plus EOS) after the last frame


async def test_concurrent_requests_share_decoding_steps_and_keep_their_lengths(
    dia_app_factory: DiaAppFactory,
) -> None:
    async with dia_app_factory(dia_max_new_tokens=CAP) as dia:
        client = dia.client
        calls = [
            client.post("/generate", json={"text": "First speaker, first line.", "max_tokens": 100}),
            client.post("/generate", json={"text": "Second speaker, a longer line.", "max_tokens": 130}),
            client.post("/generate", json={"text": "Third speaker, no limit given."}),  # the cap: 160 frames
            client.post("/v1/audio/speech", json={"input": "Fourth, through the OpenAI route."}),
        ]
        assert dia.runner._engine is not None
        gate = WorkerGate(dia.runner._engine, lambda engine: True)  # the first step waits for all four
        tasks = [asyncio.create_task(call) for call in calls]
        await until(lambda: admitted(dia.runner) == 4)
        gate.release()
        responses = await asyncio.gather(*tasks)
        stats = dia.runner.stats

    assert all(response.status_code == 200 for response in responses), [r.text for r in responses]
    lengths = [len(decode_bytes(response.content).samples) for response in responses]
    assert lengths == [frames * HOP for frames in (100, 130, CAP, CAP)]
    assert stats is not None
    assert max(stats.batch_sizes) > 1
    alone = sum(frames + DELAY_STEPS for frames in (100, 130, CAP, CAP))
    assert stats.steps < alone  # one after another would take every row's steps
