"""One Wyoming connection: events in, answers out, in the order they were asked for.

Reading and speaking are separate: `handle_event` only files work, and one worker task per connection does it,
so the read loop sees a client leave at once (and `disconnect` cancels whatever it was saying, which stops the
engine), and streamed text keeps arriving while earlier sentences are spoken.

Every request ends with the event a client waits for, success or not: `synthesize` with `audio-stop`,
`synthesize-stop` with `synthesize-stopped`, `describe` with `info`. A request that fails says why in an
`error` event first (its text the message the HTTP API would give, its code the same error code), and the
connection stays open for the next request. Home Assistant ignores `error` events and waits for `audio-stop`,
so it gets an empty answer instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from tts_server.errors import GenerationFailed, InvalidRequest, QueueFull, ServiceError
from tts_server.wyoming_server.catalogue import VoiceCatalogue
from tts_server.wyoming_server.speech import CHANNELS, SAMPLE_WIDTH, PcmAudio, VoiceRequest, WyomingSpeech
from tts_server.wyoming_server.text_stream import SentenceBuffer

log = logging.getLogger(__name__)

# Requests and streamed sentences one connection may have waiting (each at most TTS_MAX_INPUT_CHARS of text). A
# streamed answer queues a sentence per sentence, faster than a slow engine speaks them; a client this far ahead
# of its answers is not reading them, and its connection is closed.
MAX_PENDING = 1024


@dataclass(eq=False)
class _Stream:
    """A synthesize-start ... synthesize-stop exchange: one voice, one audio-start, one audio-stop."""

    voice: VoiceRequest
    text: SentenceBuffer
    rate: int | None = None  # set by the first sentence spoken; later ones keep it
    started: bool = False  # audio-start sent
    failed: bool = False


@dataclass(frozen=True, slots=True)
class _Describe:
    pass


@dataclass(frozen=True, slots=True)
class _Say:
    text: str
    voice: VoiceRequest


@dataclass(frozen=True, slots=True)
class _Sentence:
    stream: _Stream
    text: str


@dataclass(frozen=True, slots=True)
class _EndStream:
    stream: _Stream


@dataclass(frozen=True, slots=True)
class _Refuse:
    error: ServiceError
    then: Event | None = None  # the event that ends the refused request, if its client waits for one


_Work = _Describe | _Say | _Sentence | _EndStream | _Refuse


class WyomingHandler(AsyncEventHandler):
    """Serves `describe`, `synthesize` and the streaming `synthesize-start/chunk/stop` on one connection."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        catalogue: VoiceCatalogue,
        speech: WyomingSpeech,
    ) -> None:
        super().__init__(reader, writer)
        self._catalogue = catalogue
        self._speech = speech
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._stream: _Stream | None = None
        self._samples_sent = 0  # in the current audio, for chunk timestamps

    async def handle_event(self, event: Event) -> bool:
        if Ping.is_type(event.type):  # answered at once: a satellite pings while audio is being made
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
            return True
        try:
            work = self._work_for(event)
        except (KeyError, TypeError, ValueError):
            work = [_Refuse(InvalidRequest(f"Malformed '{event.type}' event."), _ending_event(event))]
        except ServiceError as error:
            work = [_Refuse(error, _ending_event(event))]
        if self._queue.qsize() + len(work) > MAX_PENDING:
            log.warning("wyoming client closed: more than %d requests waiting for their answers", MAX_PENDING)
            await self._write_error(QueueFull(f"More than {MAX_PENDING} requests are waiting on this connection."))
            return False
        for item in work:
            self._file(item)
        return True

    async def disconnect(self) -> None:
        """The client left (or the server is stopping): cancel what it was waiting for."""
        worker, self._worker = self._worker, None
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    # --- reading: events to work ------------------------------------------------------------------

    def _work_for(self, event: Event) -> list[_Work]:
        if Describe.is_type(event.type):
            return [_Describe()]
        if Synthesize.is_type(event.type):
            if self._stream is not None:
                return []  # sent inside a stream only for servers that cannot stream: the chunks carry the text
            return [_Say(_text_of(event), VoiceRequest.from_event_data(event.data))]
        if SynthesizeStart.is_type(event.type):
            return self._start_stream(VoiceRequest.from_event_data(event.data))
        if SynthesizeChunk.is_type(event.type):
            return self._continue_stream(_text_of(event))
        if SynthesizeStop.is_type(event.type):
            return self._stop_stream()
        return []  # events of other services (and future ones) are not for us

    def _start_stream(self, voice: VoiceRequest) -> list[_Work]:
        # A new start ends a stream the client left open, as if it had sent synthesize-stop.
        ending = self._stop_stream() if self._stream is not None else []
        self._stream = _Stream(voice, SentenceBuffer(max_chars=self._speech.max_chars))
        return ending

    def _continue_stream(self, text: str) -> list[_Work]:
        stream = self._stream
        if stream is None:
            raise InvalidRequest("synthesize-chunk outside a stream: send synthesize-start first.")
        return [_Sentence(stream, part) for part in stream.text.add(text)]

    def _stop_stream(self) -> list[_Work]:
        stream, self._stream = self._stream, None
        if stream is None:
            raise InvalidRequest("synthesize-stop outside a stream: send synthesize-start first.")
        return [*(_Sentence(stream, part) for part in stream.text.finish()), _EndStream(stream)]

    def _file(self, work: _Work) -> None:
        self._queue.put_nowait(work)
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="wyoming connection worker")

    # --- speaking: work to events -----------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while True:
                await self._do(await self._queue.get())
        except (ConnectionError, OSError) as exc:  # the client is gone: stop reading from it too
            log.debug("wyoming client left while being answered: %s", exc)
            await self.stop()

    async def _do(self, work: _Work) -> None:
        match work:
            case _Describe():
                await self._describe()
            case _Say(text, voice):
                await self._say(text, voice)
            case _Sentence(stream, text):
                await self._say_in_stream(stream, text)
            case _EndStream(stream):
                if stream.started:
                    await self.write_event(AudioStop().event())
                await self.write_event(SynthesizeStopped().event())
            case _Refuse(error, then):
                await self._write_error(error)
                if then is not None:
                    await self.write_event(then)

    async def _describe(self) -> None:
        try:
            info = await self._catalogue.info()
        except Exception as exc:
            await self._report(exc)
            info = Info()  # still the answer the client waits for, with nothing in it
        await self.write_event(info.event())

    async def _say(self, text: str, voice: VoiceRequest) -> None:
        try:
            await self._write_audio(await self._speech.open(text, voice), start=True)
        except Exception as exc:
            await self._report(exc)
        await self.write_event(AudioStop().event())

    async def _say_in_stream(self, stream: _Stream, text: str) -> None:
        if stream.failed:
            return  # the stream already reported its error; the rest of its text is not spoken
        try:
            audio = await self._speech.open(text, stream.voice, stream.rate)
            stream.rate = audio.rate  # every sentence at the rate of the first: clients read it from audio-start
            stream.started |= await self._write_audio(audio, start=not stream.started)
        except Exception as exc:
            stream.failed = True
            await self._report(exc)

    async def _write_audio(self, audio: PcmAudio, *, start: bool) -> bool:
        """Send the audio as it comes (audio-start first, when `start`); True once audio-start is sent. Closing
        the chunks, however this ends, stops the engine at once if the audio is not finished."""
        started = False
        async with self._speech.counted(audio), contextlib.aclosing(audio.chunks()) as chunks:
            async for pcm in chunks:
                if start and not started:
                    self._samples_sent = 0
                    await self.write_event(AudioStart(rate=audio.rate, width=SAMPLE_WIDTH, channels=CHANNELS).event())
                    started = True
                await self.write_event(self._chunk(pcm, audio.rate).event())
        return started

    def _chunk(self, pcm: bytes, rate: int) -> AudioChunk:
        timestamp = self._samples_sent * 1000 // rate  # milliseconds into the audio, as Wyoming counts them
        self._samples_sent += len(pcm) // (SAMPLE_WIDTH * CHANNELS)
        return AudioChunk(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=pcm, timestamp=timestamp)

    async def _report(self, exc: Exception) -> None:
        """An error event for a failed request. Connection errors are not the request's: they end the worker."""
        if isinstance(exc, OSError):
            raise exc
        if not isinstance(exc, ServiceError):
            log.exception("wyoming request failed", exc_info=exc)
            exc = GenerationFailed("The request failed on the server; its log has the details.")
        await self._write_error(exc)

    async def _write_error(self, error: ServiceError) -> None:
        await self.write_event(Error(text=error.message, code=error.code.value).event())


def _text_of(event: Event) -> str:
    text = event.data["text"]  # KeyError, TypeError: a malformed event
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    return text


def _ending_event(event: Event) -> Event | None:
    """The event a client waits for after sending `event`, so a refused request still ends."""
    if Synthesize.is_type(event.type):
        return AudioStop().event()
    if SynthesizeStop.is_type(event.type):
        return SynthesizeStopped().event()
    return None
