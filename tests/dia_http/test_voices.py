"""Cloning and seed voices from the voice library, spoken by Dia: S1 references, Dia audio prompts with voice
mappings, and seed-based mappings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.dia_http.conftest import FRAMES, RATE, DiaApp, DiaAppFactory, RequestSpy, samples_for
from tests.store.conftest import voice_wav
from tests.support.audio import decode_bytes
from tests.voices.conftest import add_reference, upload_prompt
from tts_server.engines.dia.engine import JobTrace
from tts_server.runtime.voice_service import Transcriber
from tts_server.store.dia_prompts import PROMPTS_DIR

FRAMES_PER_SECOND = RATE / 512


def latest_trace(dia: DiaApp, spy: RequestSpy) -> JobTrace:
    stats = dia.runner.stats
    assert stats is not None
    return stats.traces[spy.last.request_id]


async def speak(client: httpx.AsyncClient, voice: str, **extra: object) -> bytes:
    body = {"input": "A new sentence in the cloned voice.", "voice": voice, "response_format": "wav", **extra}
    response = await client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-tts-engine"] == "dia"
    return response.content


async def test_reference_voice_clones_and_only_new_audio_comes_back(dia: DiaApp) -> None:
    for voice_id, seconds in (("short_ref", 1.5), ("long_ref", 4.0)):
        added = await add_reference(dia.client, voice_id, voice_wav(seconds=seconds), text="[S1] The reference words.")
        assert added.status_code == 200, added.text

    prompt_frames: dict[str, int] = {}
    with RequestSpy(dia.runner) as spy:
        for voice_id in ("short_ref", "long_ref"):
            audio = decode_bytes(await speak(dia.client, voice_id))
            assert len(audio.samples) == samples_for(1)  # the reference's own audio is stripped
            assert spy.last.voice.reference is not None and spy.last.voice.reference.voice_id == voice_id
            prompt_frames[voice_id] = latest_trace(dia, spy).prompt_frames[0]
    # each reference conditioned its request: its length in codec frames sat before the new audio
    assert prompt_frames["short_ref"] == pytest.approx(1.5 * FRAMES_PER_SECOND, abs=3)
    assert prompt_frames["long_ref"] == pytest.approx(4.0 * FRAMES_PER_SECOND, abs=3)


async def test_audio_prompt_through_a_voice_mapping_speaks_as_s2(dia: DiaApp) -> None:
    uploaded = await upload_prompt(dia.client, "host_prompt", voice_wav(seconds=2.0, f0=200), transcript="Hi there.")
    assert uploaded.status_code == 200, uploaded.text
    mapping = {
        "voice_id": "host",
        "style": "conversational",
        "audio_prompt": "host_prompt",
        "audio_prompt_transcript": "Hello, I am the host.",
        "primary_speaker": "S2",
    }
    assert (await dia.client.post("/voice_mappings", json=mapping)).status_code == 200

    with RequestSpy(dia.runner) as spy:
        response = await dia.client.post("/generate", json={"text": "Welcome to the show.", "voice_id": "host"})
        assert response.status_code == 200, response.text
        voice = spy.last.voice
        trace = latest_trace(dia, spy)
        assert len(decode_bytes(response.content).samples) == samples_for(1)
        speech = decode_bytes(await speak(dia.client, "host"))  # the OpenAI route resolves the same mapping
    assert voice.primary_speaker == "S2"
    assert voice.reference is not None and voice.reference.voice_id == "host_prompt"
    assert voice.reference.transcript == "Hello, I am the host."  # the mapping's transcript wins
    assert trace.prompt_frames[0] == pytest.approx(2.0 * FRAMES_PER_SECOND, abs=3)
    assert len(speech.samples) == samples_for(1)


async def test_seed_mapping_fixes_the_voice(dia: DiaApp) -> None:
    for voice_id, seed in (("seeded", 42), ("other_seeded", 43)):
        mapping = {"voice_id": voice_id, "style": "seed_based", "voice_seed": seed}
        assert (await dia.client.post("/voice_mappings", json=mapping)).status_code == 200

    with RequestSpy(dia.runner) as spy:
        first = await speak(dia.client, "seeded")
        sent = spy.last
        again = await speak(dia.client, "seeded")
        other = await speak(dia.client, "other_seeded")
        assert latest_trace(dia, spy).prompt_frames == [0]  # no audio prompt: the seed alone sets the voice
    assert sent.voice.seed == 42 and sent.voice.reference is None
    assert first == again  # no request seed: the mapping's seed decides
    assert first != other
    assert len(decode_bytes(first).samples) == samples_for(1)


async def test_a_builtin_voice_speaks_from_one_stored_prompt_across_texts_and_restarts(
    dia_app_factory: DiaAppFactory, data_dir: Path
) -> None:
    async with dia_app_factory() as dia:
        with RequestSpy(dia.runner) as spy:
            first = await speak(dia.client, "alloy")
            traces = [latest_trace(dia, spy)]
            await speak(dia.client, "alloy", input="Quite another text, same voice.")
            traces.append(latest_trace(dia, spy))
        made = [key for key in dia.runner.stats.traces if key.startswith("voice-prompt-")]  # type: ignore[union-attr]
    assert made == ["voice-prompt-alloy"]  # made once, for both texts
    assert [trace.prompt_frames for trace in traces] == [[FRAMES], [FRAMES]]
    (stored,) = (data_dir / PROMPTS_DIR).glob("*/alloy/codes.npy")
    written = stored.stat().st_mtime_ns

    async with dia_app_factory() as restarted:  # a new process on the same data dir
        again = await speak(restarted.client, "alloy")
        stats = restarted.runner.stats
        assert stats is not None and not any(key.startswith("voice-prompt-") for key in stats.traces)
    assert again == first  # same prompt, same seed (the voice's), same words: the same audio
    assert stored.stat().st_mtime_ns == written


class CountingTranscriber:
    """The app's own transcriber (Whisper), counted."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self.calls = 0

    async def __call__(self, path: Path) -> str | None:
        self.calls += 1
        return await self.transcriber(path)


async def test_a_reference_without_transcript_is_transcribed_once_at_first_use(
    dia_app_factory: DiaAppFactory, hello_whisper: Path
) -> None:
    async with dia_app_factory(whisper_model=str(hello_whisper), auto_transcribe=False) as dia:
        assert (await upload_prompt(dia.client, "quiet", voice_wav(seconds=1.0))).status_code == 200
        state = dia.app.state.tts
        assert state.transcriber is not None
        counting = state.transcriber = CountingTranscriber(state.transcriber)
        with RequestSpy(dia.runner) as spy:
            first, second = await asyncio.gather(speak(dia.client, "quiet"), speak(dia.client, "quiet"))
            again = await speak(dia.client, "quiet")
            spoken = [request.voice.reference for request in spy.requests]
        metadata = (await dia.client.get("/audio_prompts/metadata/quiet")).json()
    assert counting.calls == 1  # two at once and one later: one transcription
    assert (metadata["transcript"], metadata["transcript_source"]) == ("hello", "whisper_auto")
    assert [reference.transcript if reference else None for reference in spoken] == ["hello"] * 3
    assert all(len(decode_bytes(audio).samples) == samples_for(1) for audio in (first, second, again))


async def test_without_whisper_a_reference_without_transcript_is_refused(dia: DiaApp) -> None:
    """Whisper cannot load here (the test settings name a missing checkpoint): the 400 says how to add one."""
    assert (await upload_prompt(dia.client, "quiet", voice_wav(seconds=1.0))).status_code == 200
    response = await dia.client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "quiet"})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR" and "no transcript" in body["detail"]
    assert "Add a transcript" in body["detail"]
