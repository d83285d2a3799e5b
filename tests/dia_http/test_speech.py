"""OpenAI speech, the S1-mini extended route and the Dia server's /generate, served by Dia."""

from __future__ import annotations

import base64
import json

import pytest

from tests.dia_http.conftest import FRAMES, RATE, SEGMENT_SECONDS, DiaApp, RequestSpy, samples_for
from tests.support.audio import decode_bytes, decode_pcm
from tts_server.engines.base import SamplingParams

SENTENCE = "Hello there, this is Dia speaking."


async def test_wav_keeps_dia_44k_rate_and_mp3_decodes(dia: DiaApp) -> None:
    wav = await dia.client.post("/v1/audio/speech", json={"input": SENTENCE, "response_format": "wav"})
    assert wav.status_code == 200, wav.text
    assert wav.headers["x-tts-engine"] == "dia" and wav.headers["content-type"] == "audio/wav"
    decoded = decode_bytes(wav.content)
    assert decoded.sample_rate == RATE and decoded.channels == 1
    assert len(decoded.samples) == samples_for(1)  # TTS_DIA_MAX_NEW_TOKENS frames when the request names none
    assert float(wav.headers["x-audio-duration"]) == pytest.approx(SEGMENT_SECONDS, abs=1e-3)

    mp3 = await dia.client.post("/v1/audio/speech", json={"input": SENTENCE, "response_format": "mp3"})
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    decoded_mp3 = decode_bytes(mp3.content)
    assert decoded_mp3.codec.startswith("mp3") and decoded_mp3.sample_rate == RATE
    assert decoded_mp3.duration == pytest.approx(SEGMENT_SECONDS, abs=0.06)  # plus the encoder's padding


async def test_sse_sends_audio_deltas_then_done(dia: DiaApp) -> None:
    body = {"input": SENTENCE, "response_format": "pcm", "stream_format": "sse"}
    response = await dia.client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert [event["type"] for event in events][-1] == "speech.audio.done"
    deltas = [event for event in events if event["type"] == "speech.audio.delta"]
    assert deltas
    audio = decode_pcm(b"".join(base64.b64decode(event["audio"]) for event in deltas))
    assert audio.duration == pytest.approx(SEGMENT_SECONDS, abs=0.01)  # pcm is 24 kHz s16le
    assert events[-1]["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("speed", [2.0, 0.5])
async def test_speed_time_stretches_dia_audio(dia: DiaApp, speed: float) -> None:
    with RequestSpy(dia.runner) as spy:
        response = await dia.client.post("/v1/audio/speech", json={"input": SENTENCE, "speed": speed})
    assert response.status_code == 200, response.text
    decoded = decode_bytes(response.content)
    assert decoded.sample_rate == RATE  # stretched, not resampled
    assert decoded.duration == pytest.approx(SEGMENT_SECONDS / speed, rel=0.1)
    assert spy.last.sampling.max_new_tokens is None  # same frames generated; the service stretched them


async def test_extended_same_seed_same_audio_other_seed_other_audio(dia: DiaApp) -> None:
    async def speak(seed: int) -> bytes:
        body = {"input": SENTENCE, "response_format": "pcm", "seed": seed}
        response = await dia.client.post("/v1/audio/speech/extended", json=body)
        assert response.status_code == 200, response.text
        return response.content

    first, again, other = await speak(11), await speak(11), await speak(12)
    assert first == again
    assert first != other
    assert len(first) == len(other) == round(SEGMENT_SECONDS * 24_000) * 2


async def test_extended_sends_dia_only_the_fields_the_client_set(dia: DiaApp) -> None:
    body = {
        "input": SENTENCE,
        "temperature": 0.9,
        "top_p": 0.85,
        "repetition_penalty": 1.3,
        "max_new_tokens": 100,
        "chunk_length": 120,
        "seed": 5,
    }
    with RequestSpy(dia.runner) as spy:
        full = await dia.client.post("/v1/audio/speech/extended", json=body)
        sent = spy.last
        bare = await dia.client.post("/v1/audio/speech/extended", json={"input": SENTENCE})
    assert full.status_code == bare.status_code == 200
    assert sent.sampling == SamplingParams(
        temperature=0.9, top_p=0.85, repetition_penalty=1.3, max_new_tokens=100, seed=5
    )
    assert sent.max_chunk_chars == 120
    # Left out, S1-mini's defaults (temperature 0.7, 1,024 tokens, 200-character chunks) do not reach Dia.
    assert spy.last.sampling == SamplingParams() and spy.last.max_chunk_chars is None
    # 100 frames asked, TTS_DIA_MAX_NEW_TOKENS=40 is the ceiling
    assert len(decode_bytes(full.content).samples) == samples_for(1)


async def test_generate_maps_every_dia_field(dia: DiaApp) -> None:
    body = {
        "text": "Good morning, how did you sleep? (laughs)",
        "voice_id": "aria",
        "role": "user",
        "temperature": 1.0,
        "cfg_scale": 2.5,
        "top_p": 0.9,
        "top_k": 30,
        "max_tokens": 100,
        "seed": 9,
        "voice_seed": 77,
        "use_torch_compile": False,
        "response_format": "flac",
        "sample_rate": 22_050,
    }
    with RequestSpy(dia.runner) as spy:
        response = await dia.client.post("/generate", json=body)
        again = await dia.client.post("/generate", json=body)
    assert response.status_code == 200, response.text
    request = spy.requests[0]
    assert request.sampling == SamplingParams(
        temperature=1.0, top_p=0.9, top_k=30, cfg_scale=2.5, max_new_tokens=100, seed=9, use_torch_compile=False
    )
    assert request.voice.builtin == "aria" and request.voice.seed == 77
    assert request.voice.primary_speaker == "S2"  # role user -> [S2]
    assert "(laughs)" in request.text  # non-verbal tags reach Dia
    decoded = decode_bytes(response.content)
    assert decoded.codec == "flac" and decoded.sample_rate == 22_050
    assert decoded.duration == pytest.approx(SEGMENT_SECONDS, abs=0.01)
    assert again.content == response.content  # seed 9 again: the same audio


async def test_generate_without_role_speaks_as_the_voice_speaker(dia: DiaApp) -> None:
    with RequestSpy(dia.runner) as spy:
        response = await dia.client.post("/generate", json={"text": SENTENCE, "role": "assistant"})
    assert response.status_code == 200
    assert spy.last.voice.primary_speaker == "S1" and spy.last.sampling == SamplingParams()


async def test_model_espeak_still_selects_the_builtin_engine(dia: DiaApp) -> None:
    espeak = await dia.client.post("/v1/audio/speech", json={"input": SENTENCE, "model": "espeak"})
    default = await dia.client.post("/v1/audio/speech", json={"input": SENTENCE, "model": "tts-1"})
    assert espeak.status_code == default.status_code == 200
    assert espeak.headers["x-tts-engine"] == "espeak" and decode_bytes(espeak.content).sample_rate == 22_050
    assert default.headers["x-tts-engine"] == "dia" and decode_bytes(default.content).sample_rate == RATE
    assert len(decode_bytes(default.content).samples) == FRAMES * 512


async def test_streamed_and_whole_clips_with_one_seed_are_the_same_audio(dia: DiaApp) -> None:
    body = {"text": "Streamed or not, the same words.", "seed": 21, "response_format": "pcm"}
    whole = await dia.client.post("/generate", json=body)
    streamed = await dia.client.post("/generate", json={**body, "stream": True})
    assert whole.status_code == streamed.status_code == 200
    assert streamed.content == whole.content
