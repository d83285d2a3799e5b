"""Dia through a real uvicorn server: audio streams while Dia still generates, and a client that leaves
frees its row of the batch."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.dia_http.conftest import LONG_TEXT, SEGMENT_SECONDS, RequestSpy, dia_runner
from tests.support.audio import decode_bytes
from tests.support.runner_hooks import HeldBackLastChunk, wait_until
from tests.support.worker_gate import WorkerGate, first_audio_of_a_new_request


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_dia_audio_streams_before_the_clip_is_done(dia_server: LiveServer, fmt: str) -> None:
    runner = dia_runner(dia_server.app)
    body = {"input": LONG_TEXT, "response_format": fmt, "stream": True}
    with (
        HeldBackLastChunk(runner, wait_s=30) as hook,
        httpx.stream("POST", f"{dia_server.url}/v1/audio/speech", json=body, timeout=60) as response,
    ):
        assert response.status_code == 200
        assert response.headers["x-tts-engine"] == "dia"
        parts: list[bytes] = []
        for part in response.iter_bytes():
            if part:
                hook.client_saw_bytes.set()
            parts.append(part)
    assert hook.chunks_before_release >= 2
    decoded = decode_bytes(b"".join(parts))
    assert decoded.duration > 8 * SEGMENT_SECONDS  # every segment of the long text arrived


def test_client_disconnect_frees_its_row(dia_server: LiveServer) -> None:
    """The worker is held after the request's first audio until the server has seen the client go, so the
    request cannot finish first however slow the machine (it did, 1 run in 3, on a busy one)."""
    runner = dia_runner(dia_server.app)
    assert runner._engine is not None
    gate = WorkerGate(runner._engine, first_audio_of_a_new_request(runner._engine))
    body = {"input": LONG_TEXT, "response_format": "pcm", "stream": True}
    with RequestSpy(runner) as spy:
        with httpx.stream("POST", f"{dia_server.url}/v1/audio/speech", json=body, timeout=60) as response:
            assert response.status_code == 200
            next(response.iter_bytes())
        abandoned = spy.last.request_id
        wait_until(lambda: runner.load().active == 0, timeout=20)  # the server saw the disconnect and cancelled the job
        gate.release()
        follow_up = httpx.post(f"{dia_server.url}/v1/audio/speech", json={"input": "Still here."}, timeout=60)
        follow_up_id = spy.last.request_id
    assert follow_up.status_code == 200
    assert decode_bytes(follow_up.content).duration == pytest.approx(SEGMENT_SECONDS, abs=1e-3)
    stats = runner.stats
    assert stats is not None
    trace = stats.traces[abandoned]
    assert trace.finished_step is None and len(trace.joined_steps) == 1 < trace.segments  # stopped early
    follow_trace = stats.traces[follow_up_id]
    own_steps = list(stats.batch_sizes)[follow_trace.joined_steps[0] - stats.steps :]
    assert own_steps and set(own_steps) == {1}  # the abandoned row no longer decodes beside it
    assert runner.load().active == 0 and runner.load().waiting == 0
