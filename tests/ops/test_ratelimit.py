"""Per-client rate limits: headers count down, then 429 with Retry-After; classes, proxies, switching off."""

from __future__ import annotations

import time

from tests.conftest import AppFactory

LIMITED = {"rate_limit_enabled": True, "rate_limit_generate": "3/minute"}


async def test_headers_count_down_then_429_with_retry_after(app_factory: AppFactory) -> None:
    async with app_factory(**LIMITED) as client:
        remaining = []
        for _ in range(3):
            response = await client.post("/v1/audio/speech", json={"input": "Hi."})
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "3"
            assert int(response.headers["X-RateLimit-Reset"]) >= time.time()
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        assert remaining == [2, 1, 0]
        refused = await client.post("/v1/audio/speech", json={"input": "Hi."})
        assert refused.status_code == 429
        assert refused.json()["error_code"] == "RATE_LIMITED"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        # the class is shared by every generation route, and other classes count apart
        assert (await client.post("/generate", json={"text": "Hi."})).status_code == 429
        jobs = await client.get("/jobs")
        assert jobs.status_code == 200 and jobs.headers["X-RateLimit-Limit"] == "100"
        assert "X-RateLimit-Limit" not in (await client.get("/health")).headers


async def test_errors_on_limited_routes_carry_the_headers_and_count(app_factory: AppFactory) -> None:
    async with app_factory(**LIMITED) as client:
        bad_voice = await client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "nobody"})
        assert bad_voice.status_code == 400 and bad_voice.headers["X-RateLimit-Remaining"] == "2"
        bad_body = await client.post("/generate", json={"nope": 1})
        assert bad_body.status_code == 422 and bad_body.headers["X-RateLimit-Remaining"] == "1"
        unknown_job = await client.get("/jobs/00000000-0000-4000-8000-000000000000")
        assert unknown_job.status_code == 404 and unknown_job.headers["X-RateLimit-Limit"] == "100"


async def test_forwarded_for_is_trusted_only_from_configured_proxies(app_factory: AppFactory) -> None:
    limits = {"rate_limit_enabled": True, "rate_limit_jobs": "1/minute"}
    async with app_factory(**limits) as client:  # no trusted proxies: the header changes nothing
        assert (await client.get("/jobs", headers={"X-Forwarded-For": "10.0.0.1"})).status_code == 200
        assert (await client.get("/jobs", headers={"X-Forwarded-For": "10.0.0.2"})).status_code == 429
    async with app_factory(**limits, trusted_proxies="127.0.0.1") as client:  # the test client is 127.0.0.1
        assert (await client.get("/jobs", headers={"X-Forwarded-For": "10.0.0.1"})).status_code == 200
        assert (await client.get("/jobs", headers={"X-Forwarded-For": "10.0.0.2"})).status_code == 200
        spoofed = {"X-Forwarded-For": "10.0.0.9, 10.0.0.1"}  # the proxy appended the real client last
        assert (await client.get("/jobs", headers=spoofed)).status_code == 429


async def test_switched_off_means_no_limits_and_no_headers(app_factory: AppFactory) -> None:
    async with app_factory(rate_limit_enabled=False, rate_limit_generate="1/minute") as client:
        for _ in range(3):
            response = await client.post("/v1/audio/speech", json={"input": "Hi."})
            assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


async def test_upload_routes_share_the_upload_class(app_factory: AppFactory) -> None:
    """Counted before the body is parsed, whatever the route then answers (here: garbage audio)."""
    async with app_factory(rate_limit_enabled=True, rate_limit_upload="4/minute") as client:
        files = {"audio_file": ("a.wav", b"RIFF")}
        counted = [
            await client.post("/v1/references/add", data={"id": "x"}, files={"audio": ("a.wav", b"RIFF")}),
            await client.post("/audio_prompts/upload", data={"prompt_id": "x"}, files=files),
            await client.post("/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF")}),
            await client.post("/audio_prompts/discover"),
        ]
        assert [response.status_code != 429 for response in counted] == [True] * 4
        assert [response.headers["X-RateLimit-Remaining"] for response in counted] == ["3", "2", "1", "0"]
        refused = await client.post("/v1/audio_prompts/upload", data={"prompt_id": "x"}, files=files)
        assert refused.status_code == 429 and refused.json()["error_code"] == "RATE_LIMITED"
        assert (await client.post("/v1/audio/speech", json={"input": "Hi."})).status_code == 200
        assert "X-RateLimit-Limit" not in (await client.get("/audio_prompts")).headers  # listing is not an upload
