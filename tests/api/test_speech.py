"""POST /v1/audio/speech, /v1/audio/speech/extended and /generate through real HTTP, real engine, real audio."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import struct
import wave

import httpx
import numpy as np
import pytest

from tests.support.audio import Decoded, decode_bytes, decode_pcm, rms
from tests.support.speech_check import pick_spoken_sentence

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
WORDS = len(SENTENCE.split())

EXPECTED = {
    "wav": ("audio/wav", "pcm_s16le"),
    "mp3": ("audio/mpeg", "mp3"),
    "opus": ("audio/ogg", "opus"),
    "aac": ("audio/aac", "aac"),
    "flac": ("audio/flac", "flac"),
}


def decode_format(data: bytes, fmt: str) -> Decoded:
    return decode_pcm(data) if fmt == "pcm" else decode_bytes(data)


def assert_speech_like(decoded: Decoded, words: int) -> None:
    """Mono, audible, and as long as the words need (espeak speaks roughly 2-4 words a second)."""
    assert decoded.channels == 1
    assert rms(decoded.samples) > 0.01
    assert words / 5.0 < decoded.duration < words / 1.2 + 1.0


async def speak(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/v1/audio/speech", json={"input": SENTENCE, **body})


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "aac", "flac", "pcm"])
async def test_every_format_decodes_to_speech_of_fitting_length(client: httpx.AsyncClient, fmt: str) -> None:
    response = await speak(client, voice="alloy", response_format=fmt)
    assert response.status_code == 200, response.text
    decoded = decode_format(response.content, fmt)
    assert_speech_like(decoded, WORDS)
    if fmt == "pcm":
        assert response.headers["content-type"].startswith("audio/pcm")
    else:
        media_type, codec = EXPECTED[fmt]
        assert response.headers["content-type"].startswith(media_type)
        assert decoded.codec.startswith(codec)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus", "aac", "flac", "pcm"])
async def test_streamed_formats_decode_to_whole_clip(client: httpx.AsyncClient, fmt: str) -> None:
    long_text = " ".join([SENTENCE] * 4)
    response = await client.post("/v1/audio/speech", json={"input": long_text, "response_format": fmt, "stream": True})
    assert response.status_code == 200, response.text
    assert_speech_like(decode_format(response.content, fmt), WORDS * 4)


@pytest.mark.parametrize("sample_rate", [None, 16000])
async def test_a_whole_wav_states_its_sizes_and_a_stream_cannot(
    client: httpx.AsyncClient, sample_rate: int | None
) -> None:
    two_sentences = f"{SENTENCE} {SENTENCE}"  # two chunks from the engine
    body = {"input": two_sentences, "response_format": "wav", "sample_rate": sample_rate}
    clip = (await client.post("/v1/audio/speech", json=body)).content
    assert struct.unpack_from("<I", clip, 4)[0] == len(clip) - 8
    assert struct.unpack_from("<I", clip, 40)[0] == len(clip) - 44
    with wave.open(io.BytesIO(clip)) as reader:  # the standard library trusts the sizes
        assert reader.getnframes() == (len(clip) - 44) // 2
        assert reader.getframerate() == (sample_rate or 22050)
    streamed = (await client.post("/v1/audio/speech", json={**body, "stream": True})).content
    assert struct.unpack_from("<I", streamed, 40)[0] == 0xFFFFFFFF


async def test_sample_rate_option_resamples(client: httpx.AsyncClient) -> None:
    response = await speak(client, response_format="flac", sample_rate=16000)
    assert decode_bytes(response.content).sample_rate == 16000


async def test_sse_events_concatenate_to_pcm(client: httpx.AsyncClient) -> None:
    response = await speak(client, response_format="pcm", stream_format="sse")
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["total_tokens"] > 0
    deltas = [event for event in events[:-1] if event["type"] == "speech.audio.delta"]
    assert len(deltas) == len(events) - 1 and deltas
    pcm = b"".join(base64.b64decode(event["audio"]) for event in deltas)
    assert_speech_like(decode_pcm(pcm), WORDS)


async def test_speed_two_is_about_half_as_long(client: httpx.AsyncClient) -> None:
    normal = decode_bytes((await speak(client, speed=1.0)).content).duration
    fast = decode_bytes((await speak(client, speed=2.0)).content).duration
    slow = decode_bytes((await speak(client, speed=0.5)).content).duration
    assert 0.4 < fast / normal < 0.65
    assert 1.5 < slow / normal < 2.6


async def test_every_listed_voice_speaks_and_voices_differ(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/v1/voices")).json()["voices"]
    builtin = [voice["voice_id"] for voice in listing if voice["type"] == "builtin"]
    assert {"default", "aria", "alloy", "nova", "shimmer", "cedar"} <= set(builtin)
    clips: dict[str, bytes] = {}
    for voice in builtin:
        response = await speak(client, voice=voice, response_format="pcm")
        assert response.status_code == 200, (voice, response.text)
        assert_speech_like(decode_pcm(response.content), WORDS)
        clips[voice] = response.content
    assert len(set(clips.values())) == len(clips), "two voices produced identical audio"


async def test_language_voices(client: httpx.AsyncClient) -> None:
    german = await speak(client, input="Guten Morgen, wie geht es dir heute?", voice="de", response_format="wav")
    assert german.status_code == 200
    by_field = await speak(client, input="Bonjour tout le monde.", voice="alloy", language="fr")
    assert by_field.status_code == 200
    assert_speech_like(decode_bytes(by_field.content), 4)


async def test_generate_route_speaks(client: httpx.AsyncClient) -> None:
    body = {"text": SENTENCE, "voice_id": "aria", "response_format": "mp3", "temperature": 1.2, "cfg_scale": 3.0}
    response = await client.post("/generate", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    assert_speech_like(decode_bytes(response.content), WORDS)


async def test_extended_route_accepts_sampling_fields(client: httpx.AsyncClient) -> None:
    body = {"input": SENTENCE, "temperature": 0.5, "top_p": 0.9, "repetition_penalty": 1.2, "chunk_length": 100}
    response = await client.post("/v1/audio/speech/extended", json=body)
    assert response.status_code == 200
    assert_speech_like(decode_bytes(response.content), WORDS)
    out_of_range = await client.post("/v1/audio/speech/extended", json={**body, "temperature": 1.5})
    assert out_of_range.status_code == 422


async def test_speaker_and_sound_tags_are_not_read_aloud(client: httpx.AsyncClient) -> None:
    plain = await speak(client, input="Hello there. How are you today?", response_format="pcm")
    tagged = await speak(client, input="[S1] Hello there. (laughs) [S2] How are you today?", response_format="pcm")
    assert len(tagged.content) == pytest.approx(len(plain.content), rel=0.1)


async def test_openai_model_names_and_engine_id_are_accepted(client: httpx.AsyncClient) -> None:
    for model in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "default", "espeak"):
        response = await speak(client, model=model)
        assert response.status_code == 200, model
        assert response.headers["x-tts-engine"] == "espeak"


async def test_concurrent_requests_all_succeed(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(speak(client, voice="nova") for _ in range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    for response in responses:
        assert np.isfinite(decode_bytes(response.content).samples).all()


SPOKEN_CANDIDATES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please bring me a glass of cold water.",
    "My sister works at the hospital on weekends.",
    "We will meet at the train station tomorrow morning.",
    "Turn off the lights before you leave the house.",
    "The children played in the garden all afternoon.",
]


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
async def test_response_audio_is_the_requested_words(client: httpx.AsyncClient, fmt: str) -> None:
    """pocketsphinx, restricted to the candidate sentences, must hear which one the server spoke."""
    picked = []
    for sentence in SPOKEN_CANDIDATES:
        response = await speak(client, input=sentence, voice="default", response_format=fmt)
        decoded = decode_format(response.content, fmt)
        picked.append(pick_spoken_sentence(decoded.samples, decoded.sample_rate, SPOKEN_CANDIDATES))
    correct = sum(p == s for p, s in zip(picked, SPOKEN_CANDIDATES, strict=True))
    assert correct >= 5, picked  # chance is 1 in 6 per sentence
