"""The Wyoming TCP listener, started and stopped with the app: one WyomingHandler per connection.

The listener is asyncio's own server rather than wyoming's AsyncTcpServer: that one keeps its connection tasks
to itself and does not wait for them when it stops, and every task here is owned and awaited at shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from tts_server.runtime.ops.metrics import Metrics
from tts_server.runtime.ops.tasks import TaskSupervisor
from tts_server.runtime.runners.registry import EngineRegistry
from tts_server.runtime.speech import SpeechService
from tts_server.runtime.voices import VoiceResolver
from tts_server.settings import Settings
from tts_server.wyoming_server.catalogue import VoiceCatalogue
from tts_server.wyoming_server.handler import WyomingHandler
from tts_server.wyoming_server.speech import WyomingSpeech

log = logging.getLogger(__name__)


class WyomingServer:
    """Listens on `host`:`port` (port 0: any free port; `port` tells which once started)."""

    def __init__(self, host: str, port: int, catalogue: VoiceCatalogue, speech: WyomingSpeech) -> None:
        self.host = host
        self._requested_port = port
        self._catalogue = catalogue
        self._speech = speech
        self._server: asyncio.Server | None = None
        self._handlers: set[WyomingHandler] = set()
        self._tasks = TaskSupervisor("wyoming")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engines: EngineRegistry,
        voices: VoiceResolver,
        speech: SpeechService,
        metrics: Metrics,
    ) -> WyomingServer | None:
        """The server TTS_WYOMING_PORT asks for, on TTS_HOST; None when the port is not set."""
        if settings.wyoming_port is None:
            return None
        wyoming_speech = WyomingSpeech(speech, engines, metrics, max_chars=settings.max_input_chars)
        return cls(settings.host, settings.wyoming_port, VoiceCatalogue(engines, voices), wyoming_speech)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._requested_port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and listen; an address in use fails the start-up, saying which."""
        try:
            self._server = await asyncio.start_server(self._connected, self.host, self._requested_port)
        except OSError as exc:
            where = f"{self.host}:{self._requested_port}"
            raise OSError(exc.errno, f"Wyoming server cannot listen on {where}: {exc.strerror or exc}") from exc
        log.info("Wyoming server listening on %s:%d (no API key applies to it)", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening, end every connection (cancelling what it was saying) and wait for them."""
        if self._server is not None:
            self._server.close()
        for handler in list(self._handlers):
            await handler.stop()
        await self._tasks.stop()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = WyomingHandler(reader, writer, catalogue=self._catalogue, speech=self._speech)
        self._handlers.add(handler)
        self._tasks.spawn("connection", self._serve(handler))

    async def _serve(self, handler: WyomingHandler) -> None:
        try:
            await handler.run()
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("wyoming connection ended: %s", exc)
        except ValueError as exc:  # not Wyoming's framing (JSON header lines): nothing more can be read
            log.warning("wyoming connection closed: malformed event (%s)", exc)
        finally:
            self._handlers.discard(handler)
