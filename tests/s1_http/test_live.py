"""S1-mini through a real uvicorn server: audio streams while S1-mini still generates, and a client that leaves
frees its row of the batch."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveServer
from tests.s1_http.conftest import CHUNK_SECONDS, RequestSpy, s1_runner, samples_for
from tests.support.audio import decode_bytes
from tests.support.runner_hooks import HeldBackLastChunk, wait_until
from tests.support.worker_gate import WorkerGate, first_audio_of_a_new_request

LONG_TEXT = " ".join(f"This is sentence number {n} of a long text that S1-mini reads in chunks." for n in range(1, 31))


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_s1_audio_streams_before_the_clip_is_done(s1_server: LiveServer, fmt: str) -> None:
    runner = s1_runner(s1_server.app)
    text = " ".join(f"This is sentence {w} of the text, with quite a few words in it." for w in ("one", "two", "three"))
    body = {"input": text, "chunk_length": 100, "response_format": fmt, "stream": True}
    with (
        HeldBackLastChunk(runner, wait_s=60) as hook,
        httpx.stream("POST", f"{s1_server.url}/v1/audio/speech/extended", json=body, timeout=120) as response,
    ):
        assert response.status_code == 200
        assert response.headers["x-tts-engine"] == "s1-mini"
        parts: list[bytes] = []
        for part in response.iter_bytes():
            if part:
                hook.client_saw_bytes.set()
            parts.append(part)
    assert hook.chunks_before_release >= 2
    decoded = decode_bytes(b"".join(parts))
    assert decoded.duration == pytest.approx(samples_for(3) / 44_100, abs=0.06)  # three chunks, all of them


def test_client_disconnect_frees_its_row(s1_server: LiveServer) -> None:
    """The worker is held after the request's first audio until the server has seen the client go, so the
    request cannot finish first however slow the machine."""
    runner = s1_runner(s1_server.app)
    assert runner._engine is not None
    gate = WorkerGate(runner._engine, first_audio_of_a_new_request(runner._engine))
    body = {"input": LONG_TEXT, "chunk_length": 100, "response_format": "pcm", "stream": True}
    with RequestSpy(runner) as spy:
        with httpx.stream("POST", f"{s1_server.url}/v1/audio/speech/extended", json=body, timeout=120) as response:
            assert response.status_code == 200
            next(response.iter_bytes())
        abandoned = spy.last.request_id
        wait_until(lambda: runner.load().active == 0, timeout=30)  # the server saw the disconnect and cancelled
        gate.release()
        follow_up = httpx.post(f"{s1_server.url}/v1/audio/speech", json={"input": "Still here."}, timeout=120)
        follow_up_id = spy.last.request_id
    assert follow_up.status_code == 200
    assert decode_bytes(follow_up.content).duration == pytest.approx(CHUNK_SECONDS, abs=1e-3)
    stats = runner.stats
    assert stats is not None
    trace = stats.traces[abandoned]
    assert trace.finished_step is None and len(trace.joined_steps) < trace.chunks  # stopped early
    follow_trace = stats.traces[follow_up_id]
    own_steps = list(stats.batch_sizes)[follow_trace.joined_steps[0] - stats.steps :]
    assert own_steps and set(own_steps) == {1}  # the abandoned row no longer decodes beside it
    assert runner.load().active == 0 and runner.load().waiting == 0
