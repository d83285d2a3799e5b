"""Wyoming with the built-in engine: describe, synthesize (the words checked by a recogniser), errors that leave
the connection usable, two clients at once, a client that leaves mid-synthesis, no API key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeStop, SynthesizeVoice

from tests.conftest import eventually
from tests.home_assistant.conftest import (
    SENTENCES,
    Answer,
    WyomingApp,
    WyomingFactory,
    assert_pcm_stream,
    describe,
    read_until,
    synthesize,
)
from tests.support.speech_check import pick_spoken_sentence
from tests.voices.conftest import add_reference, voice_wav
from tts_server.engines.base import AudioChunk as EngineChunk
from tts_server.engines.base import SynthesisRequest
from tts_server.wyoming_server.handler import MAX_PENDING

ESPEAK_RATE = 22_050


async def test_describe_lists_every_voice_with_its_engine_and_languages(served: WyomingApp) -> None:
    await add_reference(served.http, "narrator", voice_wav(seconds=2.0), text="Hello from the narrator.")
    async with served.client() as client:
        program = await describe(client)
    assert program.installed and program.supports_synthesize_streaming and program.name == "tts-server"
    listed = (await served.http.get("/v1/voices")).json()["voices"]
    assert [voice.name for voice in program.voices] == [voice["voice_id"] for voice in listed]
    by_name = {voice.name: voice for voice in program.voices}
    assert by_name["alloy"].languages == ["en-us"] and by_name["de"].languages == ["de"]
    assert by_name["narrator"].languages == ["en-us"]  # a reference speaks the engine's default language
    assert by_name["alloy"].description.startswith("Alloy (espeak) - ")
    assert all(voice.installed and voice.languages and "(espeak)" in voice.description for voice in program.voices)
    assert all(voice.speakers is None for voice in program.voices)  # espeak has no dialogue speakers
    assert by_name["alloy"].attribution.name.startswith("eSpeak NG")


async def test_synthesize_says_the_words_as_pcm(served: WyomingApp) -> None:
    async with served.client() as client:
        for sentence in SENTENCES[:3]:
            answer = await synthesize(client, sentence, SynthesizeVoice(name="default"))
            assert_pcm_stream(answer, ESPEAK_RATE)
            assert answer.errors == []
            assert pick_spoken_sentence(answer.samples, ESPEAK_RATE, SENTENCES) == sentence
        no_voice = await synthesize(client, SENTENCES[3])  # Home Assistant sends no voice until one is picked
    assert pick_spoken_sentence(no_voice.samples, ESPEAK_RATE, SENTENCES) == SENTENCES[3]


@pytest.mark.parametrize(
    "voice",
    [
        SynthesizeVoice(name="alloy"),
        SynthesizeVoice(name="espeak:alloy"),  # the engine named explicitly
        SynthesizeVoice(name="en-gb"),
        SynthesizeVoice(language="de"),  # a language alone: the default voice in that language
    ],
    ids=["name", "engine-qualified", "language-voice", "language"],
)
async def test_voice_names_and_languages(served: WyomingApp, voice: SynthesizeVoice) -> None:
    async with served.client() as client:
        answer = await synthesize(client, "Guten Tag, wie geht es Ihnen heute?", voice)
    assert_pcm_stream(answer, ESPEAK_RATE)
    assert answer.errors == [] and answer.seconds > 1.0


async def test_bad_requests_get_an_error_and_the_connection_stays_usable(served: WyomingApp) -> None:
    async with served.client() as client:
        cases = [
            (Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")), "INVALID_VOICE_ID", "nobody"),
            (Synthesize(text="Hello.", voice=SynthesizeVoice(name="nope:alloy")), "INVALID_MODEL", "nope"),
            (Synthesize(text="   "), "VALIDATION_ERROR", "empty"),
            (Synthesize(text="x" * 5000), "TEXT_TOO_LONG", "5000"),
            (Synthesize(text="Hi.", voice=SynthesizeVoice(name="alloy", speaker="S2")), "VALIDATION_ERROR", "speaker"),
        ]
        for request, code, says in cases:
            await client.write_event(request.event())
            answer = await read_until(client, "audio-stop")
            assert answer.types == ["error", "audio-stop"], answer.types  # ends as every synthesize does
            assert answer.errors[0].code == code and says in answer.errors[0].text
        malformed = await _send_raw(client, "synthesize", {"voice": {"name": "alloy"}})  # no text
        assert malformed.types == ["error", "audio-stop"]
        stray_chunk = await _send_raw(client, "synthesize-chunk", {"text": "Hello."}, end="error")
        assert "synthesize-start" in stray_chunk.errors[0].text
        await client.write_event(SynthesizeStop().event())
        stray_stop = await read_until(client, "synthesize-stopped")
        assert stray_stop.types == ["error", "synthesize-stopped"]
        assert (await describe(client)).voices  # still answering
        after = await synthesize(client, SENTENCES[1], SynthesizeVoice(name="default"))
    assert pick_spoken_sentence(after.samples, ESPEAK_RATE, SENTENCES) == SENTENCES[1]


async def _send_raw(client: AsyncTcpClient, event_type: str, data: dict[str, Any], end: str = "audio-stop") -> Answer:
    await client.write_event(Event(type=event_type, data=data))
    return await read_until(client, end)


async def test_two_clients_at_once_each_get_their_own_words(served: WyomingApp) -> None:
    async def speak(sentence: str) -> str | None:
        async with served.client() as client:
            await client.write_event(Describe().event())  # interleaved with the other client's requests
            await read_until(client, "info")
            answer = await synthesize(client, sentence, SynthesizeVoice(name="default"))
            return pick_spoken_sentence(answer.samples, ESPEAK_RATE, SENTENCES)

    picked = await asyncio.gather(*(speak(sentence) for sentence in SENTENCES))
    assert picked == SENTENCES


class NeverFinishes:
    """Wraps the engine runner: passes the first chunk on, then waits forever; records when it is closed."""

    def __init__(self, served: WyomingApp) -> None:
        self.runner = served.app.state.tts.engines.default
        self.closed = threading.Event()

    def __enter__(self) -> NeverFinishes:
        original = self.runner.synthesize

        async def synthesize(request: SynthesisRequest) -> AsyncIterator[EngineChunk]:
            stream = original(request)
            try:
                async for chunk in stream:
                    yield chunk
                    break
                await asyncio.Event().wait()
            finally:
                await stream.aclose()  # as the service closes a stream: `break` alone leaves it to the GC
                self.closed.set()

        self.runner.synthesize = synthesize
        return self

    def __exit__(self, *exc: object) -> None:
        del self.runner.synthesize


async def test_audio_is_sent_as_it_is_made_and_a_client_that_leaves_frees_the_work(served: WyomingApp) -> None:
    runner = served.app.state.tts.engines.default
    with NeverFinishes(served) as hook:
        async with served.client() as client:
            await client.write_event(Synthesize(text=SENTENCES[0], voice=SynthesizeVoice(name="default")).event())
            early = await read_until(client, "audio-chunk")  # the engine has not finished, and never will
            assert early.types[:2] == ["audio-start", "audio-chunk"]
        assert await asyncio.to_thread(hook.closed.wait, 30), "the synthesis kept running after the client left"
    # The worker stops at its next sentence boundary and then reports back: wait for that, not for a time.
    assert await eventually(lambda: runner.load().active == 0 and runner.load().waiting == 0, 60)
    async with served.client() as client:
        after = await synthesize(client, SENTENCES[2], SynthesizeVoice(name="default"))
    assert pick_spoken_sentence(after.samples, ESPEAK_RATE, SENTENCES) == SENTENCES[2]


async def test_no_api_key_applies_to_wyoming(wyoming_factory: WyomingFactory) -> None:
    async with wyoming_factory(api_key="sesame") as served:
        assert (await served.http.post("/v1/audio/speech", json={"input": "Hi."})).status_code == 401
        async with served.client() as client:
            answer = await synthesize(client, SENTENCES[0], SynthesizeVoice(name="default"))
    assert answer.errors == [] and pick_spoken_sentence(answer.samples, ESPEAK_RATE, SENTENCES) == SENTENCES[0]


async def test_syntheses_count_in_stats(served: WyomingApp) -> None:
    before = (await served.http.get("/stats")).json()["requests"]["successful"]
    async with served.client() as client:
        await synthesize(client, SENTENCES[0])
    assert (await served.http.get("/stats")).json()["requests"]["successful"] == before + 1


async def test_a_client_that_never_reads_its_answers_is_cut_off(served: WyomingApp) -> None:
    """Requests queue behind the one being spoken (which here never ends); past the limit the server says so and
    closes the connection instead of holding an unbounded backlog."""
    with NeverFinishes(served) as hook:
        async with served.client() as client:
            for _ in range(MAX_PENDING + 2):
                await client.write_event(Synthesize(text=SENTENCES[0]).event())
            seen = []
            while (event := await client.read_event()) is not None:
                seen.append(event)
        errors = [Error.from_event(event) for event in seen if Error.is_type(event.type)]
        assert [error.code for error in errors] == ["QUEUE_FULL"]
        assert await asyncio.to_thread(hook.closed.wait, 30)
