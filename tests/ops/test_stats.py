"""GET /stats counts the requests made; GET /metrics is valid Prometheus text with the expected series."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AppFactory
from tests.jobs.conftest import submit, wait_for_status


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_stats_count_the_requests_made(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        empty = (await client.get("/stats")).json()
        assert empty["requests"] == {"total": 0, "successful": 0, "failed": 0, "cancelled": 0, "success_rate": 100.0}
        assert empty["performance"]["total_audio_generated"] == "0s"

        for text in ("One.", "Two sentences here. And another."):
            assert (await client.post("/v1/audio/speech", json={"input": text})).status_code == 200
        streamed = await client.post("/v1/audio/speech", json={"input": "Streamed.", "stream": True})
        assert streamed.status_code == 200
        assert (await client.post("/generate", json={"text": "Dia style."})).status_code == 200
        assert (await client.post("/v1/audio/speech", json={"input": "x", "voice": "nobody"})).status_code == 400
        job_id = await submit(client, "An async job.")
        job = await wait_for_status(client, job_id, "completed")
        await client.get("/health")  # not a generation request

        stats = (await client.get("/stats")).json()
    assert stats["requests"] == {"total": 6, "successful": 5, "failed": 1, "cancelled": 0, "success_rate": 83.3}
    performance = stats["performance"]
    assert performance["avg_generation_time"] > 0
    assert 0 < performance["real_time_factor"] < 1  # the built-in engine is much faster than real time
    # no tokens in the built-in engine: 50 per second of audio, so tokens/s is 50 / RTF
    assert performance["avg_tokens_per_second"] == pytest.approx(50 / performance["real_time_factor"], rel=0.02)
    # every response reports the audio it carried, streamed or whole, and so does the job
    assert performance["total_audio_seconds"] > job["audio_duration"] > 0
    resources = stats["resources"]
    assert 0 <= resources["cpu_usage"] <= 100 and 0 < resources["memory_usage"] <= 100
    assert resources["gpu_usage"] == [] and resources["gpu_memory"] == []
    assert stats["jobs"] == {"queued_jobs": 0, "active_jobs": 0}


async def test_metrics_parse_and_carry_the_expected_series(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        await client.post("/v1/audio/speech", json={"input": "Hello."})
        await client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "nobody"})
        job_id = await submit(client, "A job.")
        await wait_for_status(client, job_id, "completed")
        await client.get(f"/jobs/{job_id}/result")
        await client.get("/no/such/page")
        response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)

    def value(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    assert value("tts_http_requests_total", method="POST", route="/v1/audio/speech", status="200") == 1
    assert value("tts_http_requests_total", method="POST", route="/v1/audio/speech", status="400") == 1
    assert value("tts_http_requests_total", method="GET", route="/jobs/{job_id}/result", status="200") == 1
    assert value("tts_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert not any(job_id in str(key) for key in values)  # templates, never raw paths
    assert value("tts_http_request_duration_seconds_count", method="POST", route="/v1/audio/speech", status="200") == 1
    assert value("tts_generation_requests_total", engine="espeak", outcome="success") == 2
    assert value("tts_generation_requests_total", engine="none", outcome="failure") == 1
    assert value("tts_audio_generated_seconds_total", engine="espeak") > 0.5
    assert 0 < value("tts_real_time_factor", engine="espeak") < 1
    assert value("tts_job_queue_depth") == 0 and value("tts_jobs_active") == 0
    assert value("tts_engine_loaded", engine="espeak") == 1
    assert value("tts_engine_state", engine="espeak", state="ready") == 1
    assert value("tts_engine_workers", engine="espeak") == 2


async def test_metrics_registries_are_per_app(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        await client.post("/v1/audio/speech", json={"input": "Hello."})
    async with app_factory() as client:
        text = (await client.get("/metrics")).text
    assert 'route="/v1/audio/speech"' not in text


@pytest.mark.parametrize("body", [{"stream": True}, {"stream_format": "sse", "response_format": "pcm"}, {}])
async def test_streamed_audio_counts_in_the_totals(app_factory: AppFactory, body: dict[str, object]) -> None:
    async with app_factory() as client:
        response = await client.post("/v1/audio/speech", json={"input": "Counted when streamed, too.", **body})
        assert response.status_code == 200
        stats = (await client.get("/stats")).json()
    assert stats["requests"]["successful"] == 1
    assert 0.8 < stats["performance"]["total_audio_seconds"] < 5
