"""OpenAI speech, the S1-mini extended route and the Dia server's /generate, served by S1-mini."""

from __future__ import annotations

import base64
import json

import pytest

from tests.s1_http.conftest import CHUNK_SECONDS, RATE, RequestSpy, S1App, samples_for
from tests.support.audio import decode_bytes, decode_pcm
from tts_server.engines.s1.text import chunk_text

SENTENCE = "Hello there, this is S1-mini speaking."

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_openai_route_speaks_with_s1_mini_at_44k(s1_shared: S1App) -> None:
    for model in ("s1-mini", "tts-1"):  # by name, and as the default engine
        wav = await s1_shared.client.post(
            "/v1/audio/speech", json={"model": model, "input": SENTENCE, "voice": "alloy"}
        )
        assert wav.status_code == 200, wav.text
        assert wav.headers["x-tts-engine"] == "s1-mini" and wav.headers["content-type"] == "audio/wav"
        decoded = decode_bytes(wav.content)
        assert decoded.sample_rate == RATE and decoded.channels == 1
        assert len(decoded.samples) == samples_for(1)  # TTS_S1_MAX_NEW_TOKENS frames
    mp3 = await s1_shared.client.post("/v1/audio/speech", json={"input": SENTENCE, "response_format": "mp3"})
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert decode_bytes(mp3.content).duration == pytest.approx(CHUNK_SECONDS, abs=0.06)


async def test_health_and_models_name_s1_mini(s1_shared: S1App) -> None:
    health = (await s1_shared.client.get("/health")).json()
    assert health["status"] == "healthy" and health["provider"] == "s1_mini" and health["device"] == "cpu"
    assert {engine["id"]: engine["state"] for engine in health["engines"]} == {"s1-mini": "ready", "espeak": "ready"}
    models = {card["id"]: card["ready"] for card in (await s1_shared.client.get("/v1/models")).json()["data"]}
    assert models["s1-mini"] is True and models["tts-1"] is True


async def test_sse_sends_audio_deltas_then_done(s1_shared: S1App) -> None:
    body = {"input": SENTENCE, "response_format": "pcm", "stream_format": "sse"}
    response = await s1_shared.client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    deltas = [event for event in events if event["type"] == "speech.audio.delta"]
    audio = decode_pcm(b"".join(base64.b64decode(event["audio"]) for event in deltas))
    assert audio.duration == pytest.approx(CHUNK_SECONDS, abs=0.01)  # pcm is 24 kHz s16le


async def test_extended_fields_reach_s1_and_seed_repeats_audio(s1_shared: S1App) -> None:
    async def speak(seed: int, **extra: object) -> bytes:
        body = {"input": SENTENCE, "response_format": "pcm", "seed": seed, **extra}
        response = await s1_shared.client.post("/v1/audio/speech/extended", json=body)
        assert response.status_code == 200, response.text
        return response.content

    with RequestSpy(s1_shared.runner) as spy:
        first = await speak(7, temperature=0.5, top_p=0.6, repetition_penalty=1.3, max_new_tokens=300)
        sampling = spy.last.sampling
    assert (sampling.temperature, sampling.top_p, sampling.repetition_penalty) == (0.5, 0.6, 1.3)
    assert sampling.max_new_tokens == 300 and sampling.seed == 7
    assert decode_pcm(first).duration == pytest.approx(CHUNK_SECONDS, abs=0.01)  # capped by TTS_S1_MAX_NEW_TOKENS
    again = await speak(7, temperature=0.5, top_p=0.6, repetition_penalty=1.3, max_new_tokens=300)
    assert again == first
    assert await speak(7) != first  # other sampling parameters: other audio
    assert await speak(8, temperature=0.5, top_p=0.6, repetition_penalty=1.3) != first


async def test_chunk_length_splits_long_text_into_crossfaded_chunks(s1_shared: S1App) -> None:
    words = ("one", "two", "three", "four", "five", "six", "seven", "eight")
    text = " ".join(f"This is sentence {word} of the long text." for word in words)  # ~40 characters each
    chunks = chunk_text(text, 100)
    assert len(chunks) == 4 and all(len(chunk) <= 100 for chunk in chunks)  # two sentences a chunk
    body = {"input": text, "chunk_length": 100, "seed": 3, "response_format": "wav"}
    response = await s1_shared.client.post("/v1/audio/speech/extended", json=body)
    assert response.status_code == 200, response.text
    assert len(decode_bytes(response.content).samples) == samples_for(len(chunks))
    stats = s1_shared.runner.stats
    assert stats is not None and list(stats.traces.values())[-1].chunks == 4


async def test_generate_route_speaks_with_s1_mini(s1_shared: S1App) -> None:
    response = await s1_shared.client.post("/generate", json={"text": SENTENCE, "voice_id": "luna", "seed": 4})
    assert response.status_code == 200, response.text
    assert response.headers["x-tts-engine"] == "s1-mini"
    decoded = decode_bytes(response.content)
    assert decoded.sample_rate == RATE and len(decoded.samples) == samples_for(1)


async def test_speed_time_stretches_s1_audio(s1_shared: S1App) -> None:
    response = await s1_shared.client.post("/v1/audio/speech", json={"input": SENTENCE, "speed": 2.0})
    assert response.status_code == 200, response.text
    decoded = decode_bytes(response.content)
    assert decoded.sample_rate == RATE and decoded.duration == pytest.approx(CHUNK_SECONDS / 2, rel=0.1)


async def test_model_espeak_still_selects_the_builtin_engine(s1_shared: S1App) -> None:
    response = await s1_shared.client.post("/v1/audio/speech", json={"model": "espeak", "input": SENTENCE})
    assert response.status_code == 200 and response.headers["x-tts-engine"] == "espeak"
    dia = await s1_shared.client.post("/v1/audio/speech", json={"model": "dia", "input": SENTENCE})
    assert dia.status_code == 503 and dia.json()["error_code"] == "MODEL_NOT_LOADED"
    assert "TTS_PROVIDER=s1-mini" in dia.json()["detail"]
