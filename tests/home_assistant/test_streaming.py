"""The streaming form, as Home Assistant sends it: synthesize-start, synthesize-chunk..., a synthesize with the
whole text (for servers that cannot stream), synthesize-stop; answered by one audio-start, the audio of each
sentence as soon as it is complete, audio-stop and synthesize-stopped."""

from __future__ import annotations

from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from tests.home_assistant.conftest import SENTENCES, Answer, WyomingApp, WyomingFactory, read_until
from tests.support.speech_check import pick_spoken_sentence
from tts_server.wyoming_server.text_stream import SentenceBuffer

ESPEAK_RATE = 22_050
FIRST, SECOND = SENTENCES[0], SENTENCES[1]
PAIRS = [f"{a} {b}" for a in SENTENCES for b in SENTENCES if a != b]  # the recogniser picks among these


async def test_streamed_text_is_spoken_while_it_is_still_arriving(served: WyomingApp) -> None:
    voice = SynthesizeVoice(name="default")
    async with served.client() as client:
        await client.write_event(SynthesizeStart(voice=voice).event())
        for piece in ("The quick br", "own fox jumps over the lazy dog. Please"):
            await client.write_event(SynthesizeChunk(text=piece).event())
        # The first sentence is complete: its audio comes before the rest of the text is even sent.
        answer = await read_until(client, "audio-chunk")
        assert answer.types == ["audio-start", "audio-chunk"]
        for piece in (" bring me a glass", " of cold water."):
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(Synthesize(text=f"{FIRST} {SECOND}", voice=voice).event())  # ignored in a stream
        await client.write_event(SynthesizeStop().event())
        await read_until(client, "synthesize-stopped", answer=answer)
    assert answer.types.count("audio-start") == 1 and answer.types[-2:] == ["audio-stop", "synthesize-stopped"]
    assert answer.errors == []
    assert pick_spoken_sentence(answer.samples, ESPEAK_RATE, PAIRS) == f"{FIRST} {SECOND}"  # once, in order


async def test_a_stream_whose_voice_fails_reports_once_and_still_ends(served: WyomingApp) -> None:
    async with served.client() as client:
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="nobody")).event())
        for sentence in SENTENCES:
            await client.write_event(SynthesizeChunk(text=sentence + " ").event())
        await client.write_event(SynthesizeStop().event())
        answer = await read_until(client, "synthesize-stopped")
        assert answer.types == ["error", "synthesize-stopped"]  # no audio-start: nothing was spoken
        assert answer.errors[0].code == "INVALID_VOICE_ID"
        await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="default")).event())
        await client.write_event(SynthesizeChunk(text=SECOND).event())  # no sentence end yet: spoken at stop
        await client.write_event(SynthesizeStop().event())
        again = await read_until(client, "synthesize-stopped")
    assert again.errors == [] and pick_spoken_sentence(again.samples, ESPEAK_RATE, SENTENCES) == SECOND


async def test_text_without_sentence_ends_is_spoken_in_parts_under_the_length_limit(
    wyoming_factory: WyomingFactory,
) -> None:
    async with wyoming_factory(max_input_chars=120) as served, served.client() as client:
        await client.write_event(SynthesizeStart().event())
        for _ in range(40):  # 1,200 characters, never a full stop: ten times what one synthesis takes
            await client.write_event(SynthesizeChunk(text="and then some more words ").event())
        await client.write_event(SynthesizeStop().event())
        answer = await read_until(client, "synthesize-stopped")
    assert answer.errors == [] and answer.types.count("audio-start") == 1
    assert answer.seconds > 40  # ~200 words at espeak's 175 per minute


async def test_a_new_start_ends_the_open_stream(served: WyomingApp) -> None:
    async with served.client() as client:
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk(text=FIRST).event())
        await client.write_event(SynthesizeStart().event())
        first = await read_until(client, "synthesize-stopped")
        await client.write_event(SynthesizeChunk(text=SECOND).event())
        await client.write_event(SynthesizeStop().event())
        second = await read_until(client, "synthesize-stopped")
    for answer, sentence in ((first, FIRST), (second, SECOND)):
        assert isinstance(answer, Answer) and answer.errors == []
        assert pick_spoken_sentence(answer.samples, ESPEAK_RATE, SENTENCES) == sentence


def test_sentence_buffer_gives_out_complete_sentences() -> None:
    buffer = SentenceBuffer(max_chars=200)
    assert buffer.add("Hello. The quick br") == []  # "Hello." alone is too short to be worth a synthesis
    assert buffer.add("own fox jumps. And") == ["Hello. The quick brown fox jumps."]
    assert buffer.add(" it is 3.") == []  # the end of the text so far is never a boundary
    assert buffer.add("5 km away!\nNext") == ["And it is 3.5 km away!"]
    assert buffer.finish() == ["Next"]
    assert buffer.finish() == []


def test_sentence_buffer_stays_under_its_limit() -> None:
    buffer = SentenceBuffer(max_chars=30)
    parts = buffer.add("one two three four five six seven eight nine ten")  # 49 characters, no sentence end
    assert parts == ["one two three four five six"] and all(len(part) <= 30 for part in parts)
    many = buffer.add(" eleven. " + " ".join(f"Sentence {n}." for n in range(10)) + " ")
    assert many and all(len(part) <= 30 for part in many)
    words = " ".join([*parts, *many, *buffer.finish()]).split()
    assert words[:11] == ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven."]
    assert words.count("Sentence") == 10
