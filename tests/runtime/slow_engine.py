"""Engine factories for process-pool tests, importable by worker processes.

The real espeak engine speaks a sentence in about a millisecond, too fast to watch streaming,
queueing or cancellation happen, so `create_slow_engine` adds a pause per sentence.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from collections.abc import Iterator

from tts_server.engines.base import AudioChunk, CancelToken, EngineLoadError, SynthesisRequest
from tts_server.engines.espeak.engine import EspeakEngine


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


class WhoSpeaksEngine(SlowEspeakEngine):
    """The slow engine, with each chunk's sample rate replaced by the id of the process that spoke it, so
    a test can tell the server thread (its own pid) from a worker. "fail" in the instructions raises a
    plain (non-service) error."""

    def synthesize(self, request: SynthesisRequest, cancel: CancelToken) -> Iterator[AudioChunk]:
        if "fail" in (request.instructions or ""):
            raise ValueError("the test asked for a failure")
        for chunk in super().synthesize(request, cancel):
            yield AudioChunk(chunk.samples, os.getpid(), chunk.progress)


class WorkerOnlyEngine(WhoSpeaksEngine):
    """Loads in worker processes only: in the main process (the server thread's home) it fails."""

    def load(self) -> None:
        if multiprocessing.parent_process() is None:
            raise EngineLoadError("this engine loads only in worker processes")
        super().load()


class UnloadableEngine(EspeakEngine):
    def load(self) -> None:
        raise EngineLoadError("no weights here: download them first")


def create_slow_engine() -> SlowEspeakEngine:
    return SlowEspeakEngine()


def create_unloadable_engine() -> UnloadableEngine:
    return UnloadableEngine()


def create_who_speaks_engine() -> WhoSpeaksEngine:
    return WhoSpeaksEngine()


def create_worker_only_engine() -> WorkerOnlyEngine:
    return WorkerOnlyEngine()
