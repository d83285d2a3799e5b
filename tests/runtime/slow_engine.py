"""Engine factories for process-pool tests, importable by worker processes.

The real espeak engine speaks a sentence in about a millisecond, too fast to watch streaming,
queueing or cancellation happen, so `create_slow_engine` adds a pause per sentence.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

from tts_server.engines.base import AudioChunk, CancelToken, EngineLoadError, SynthesisRequest
from tts_server.engines.espeak import EspeakEngine


class SlowEspeakEngine(EspeakEngine):
    """The real engine, taking `request.instructions` seconds per sentence. With "endless" in the
    instructions it then repeats the last sentence until cancelled, so a test can tell "stopped
    because cancelled" from "finished" without timing anything."""

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        delay = float((request.instructions or "0").split()[0])
        chunks = super().synthesize(request, cancel)
        if "endless" in (request.instructions or ""):
            chunks = _then_repeat_the_last(chunks)
        for chunk in chunks:
            if cancel.cancelled:
                return
            time.sleep(delay)
            yield chunk


def _then_repeat_the_last(chunks: Iterator[AudioChunk]) -> Iterator[AudioChunk]:
    last = None
    for last in chunks:
        yield last
    if last is not None:
        yield from itertools.repeat(last)


class UnloadableEngine(EspeakEngine):
    def load(self) -> None:
        raise EngineLoadError("no weights here: download them first")


def create_slow_engine() -> SlowEspeakEngine:
    return SlowEspeakEngine()


def create_unloadable_engine() -> UnloadableEngine:
    return UnloadableEngine()
