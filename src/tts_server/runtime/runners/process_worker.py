"""The worker side of the process pool, and the channel both sides speak over.

A `Channel` is a Unix socket pair with a fixed 20-byte frame header (kind, sample type, request number,
sample rate, progress, payload length). Audio travels as raw float32 or int16 bytes, written straight
from the engine's array and read straight into a fresh one: no pickling, no intermediate copies
(multiprocessing's Connection copies a large message several times, which costs more than espeak
takes to speak it).
The request number tags every reply, so the parent can drop what a cancelled request still sent.

A worker runs one request at a time on its main thread. Between chunks it polls its channel for a
cancel, so a cancelled request stops after the sentence being synthesised; no second thread needed.
"""

from __future__ import annotations

import ctypes
import importlib
import io
import pickle
import select
import signal
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from tts_server.audio.samples import Samples
from tts_server.engines.base import AudioChunk, CancelToken, Engine, SynthesisRequest
from tts_server.errors import ServiceError

# kind, sample type (CHUNK), 2 pad bytes, request number, sample rate, progress (-1: unknown), payload bytes
_HEADER = struct.Struct("<BBxxIIfI")
_SAMPLE_TYPES = (np.dtype(np.float32), np.dtype(np.int16))  # the sample type byte indexes this
# Where the system allows it (net.core.wmem_max/rmem_max), a sentence of audio fits in the socket
# buffers, so a worker hands it over in one write instead of waiting for the event loop to drain each
# default-sized (~200 KB) buffer.
_SOCKET_BUFFER_BYTES = 4 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


class Kind(IntEnum):
    # parent -> worker
    SYNTH = 1
    CANCEL = 2
    STOP = 3
    # worker -> parent
    READY = 10
    LOAD_FAILED = 11
    CHUNK = 12
    DONE = 13
    ERROR = 14


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    number: int = 0
    rate: int = 0
    payload: bytearray | Samples = field(default_factory=bytearray)  # samples for CHUNK
    progress: float = -1.0

    def chunk(self) -> AudioChunk:
        assert isinstance(self.payload, np.ndarray)
        return AudioChunk(self.payload, self.rate, progress=None if self.progress < 0 else self.progress)


class Channel:
    """One end of a socket pair carrying frames.

    Frames are assembled in place as bytes arrive, so the same channel serves a blocking reader (the
    worker's `recv`) and a non-blocking one driven by the event loop (the parent's
    `receive_available`), which never waits for the rest of a large frame.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER_BYTES)
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        self._header = bytearray(_HEADER.size)
        self._target = memoryview(self._header)  # what the next bytes fill: a header or a payload
        self._filled = 0
        self._incoming: Frame | None = None  # a frame whose header is read and payload is not (yet)

    @classmethod
    def pair(cls) -> tuple[Channel, socket.socket]:
        """A channel for the parent, and the socket to hand to the worker process."""
        parent, child = socket.socketpair()
        return cls(parent), child

    def send(
        self,
        kind: Kind,
        number: int = 0,
        payload: bytes | memoryview = b"",
        rate: int = 0,
        progress: float = -1.0,
        sample_type: int = 0,
    ) -> None:
        header = _HEADER.pack(kind, sample_type, number, rate, progress, len(payload))
        sent = self._sock.sendmsg([header, payload])  # one syscall for header and samples
        if sent < len(header) + len(payload):  # a partial write (a large payload): finish it
            self._sock.sendall(memoryview(header + bytes(payload))[sent:])

    def send_chunk(self, number: int, chunk: AudioChunk) -> None:
        dtype = np.int16 if chunk.samples.dtype == np.int16 else np.float32
        samples = np.ascontiguousarray(chunk.samples, dtype=dtype)
        progress = -1.0 if chunk.progress is None else chunk.progress
        sample_type = _SAMPLE_TYPES.index(samples.dtype)
        self.send(Kind.CHUNK, number, samples.data.cast("B"), chunk.sample_rate, progress, sample_type)

    def recv(self) -> Frame:
        """The next frame, waiting for it; EOFError once the other end is closed."""
        while (frame := self._read_some()) is None:
            pass
        return frame

    def receive_available(self) -> list[Frame]:
        """The frames that the bytes already arrived complete, without waiting (non-blocking socket).
        EOFError once the other end is closed and every complete frame was returned."""
        frames: list[Frame] = []
        try:
            while True:
                if (frame := self._read_some()) is not None:
                    frames.append(frame)
        except BlockingIOError:
            return frames
        except EOFError:
            if frames:
                return frames  # the end shows again on the next call
            raise

    def _read_some(self) -> Frame | None:
        count = self._sock.recv_into(self._target[self._filled :])
        if count == 0:
            raise EOFError("channel closed")
        self._filled += count
        return self._advance() if self._filled == len(self._target) else None

    def _advance(self) -> Frame | None:
        """The current buffer is full: a header starts a payload; a payload completes its frame."""
        self._filled = 0
        if self._incoming is not None:
            frame, self._incoming, self._target = self._incoming, None, memoryview(self._header)
            return frame
        kind_value, sample_type, number, rate, progress, size = _HEADER.unpack(self._header)
        kind = Kind(kind_value)
        payload: bytearray | Samples
        if kind is Kind.CHUNK:  # samples land straight in the array the consumer gets
            dtype = _SAMPLE_TYPES[sample_type]
            payload = np.empty(size // dtype.itemsize, dtype=dtype)
            target = payload.data.cast("B")
        else:
            payload = bytearray(size)
            target = memoryview(payload)
        frame = Frame(kind, number, rate, payload, progress)
        if size == 0:
            return frame
        self._incoming, self._target = frame, target
        return None

    def readable(self) -> bool:
        return bool(self._poller.poll(0))

    def set_blocking(self, blocking: bool) -> None:
        self._sock.setblocking(blocking)

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def closed(self) -> bool:
        return self._sock.fileno() == -1

    def close(self) -> None:
        self._sock.close()


class _ErrorPickler(pickle.Pickler):
    """Pickles exceptions by type, args and attributes. Plain pickling re-calls the constructor with
    `args`, which garbles errors whose constructor takes other arguments (VoiceNotFound, QueueFull)."""

    def reducer_override(self, obj: object) -> Any:
        if isinstance(obj, BaseException):
            return _rebuild_error, (type(obj), obj.args, obj.__dict__)
        return NotImplemented


def _rebuild_error(cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def error_payload(exc: BaseException) -> bytes:
    """A service error intact (where its attributes pickle), any other exception as its type and text.

    Only service errors carry meaning to the parent (a status code, a param); rebuilding other exceptions by
    type and args loses what C-level ones keep outside `args` (a UnicodeEncodeError arrived with no text)."""
    text = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    if not isinstance(exc, ServiceError):
        return text
    buffer = io.BytesIO()
    try:
        _ErrorPickler(buffer).dump(exc)
    except Exception:
        return text
    return buffer.getvalue()


EngineFactory = str | Callable[[], Engine]


def resolve_factory(factory: EngineFactory) -> Callable[[], Engine]:
    """The function a "package.module:function" path names, or the callable itself: either pickles into a
    spawned process (a callable with settings in it as a functools.partial of a module-level function)."""
    if not isinstance(factory, str):
        return factory
    module_name, _, attribute = factory.partition(":")
    found: Callable[[], Engine] = getattr(importlib.import_module(module_name), attribute)
    return found


def worker_main(factory_path: EngineFactory, sock: socket.socket) -> None:
    """Entry point of a worker process: build and load the engine, then serve requests until STOP."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us
    keep_large_buffers_on_the_heap()
    channel = Channel(sock)
    try:
        engine = resolve_factory(factory_path)()
        engine.load()
    except Exception as exc:
        channel.send(Kind.LOAD_FAILED, payload=str(exc).encode())
        return
    channel.send(Kind.READY)
    try:
        _serve(engine, channel)
    except (EOFError, OSError):  # the parent is gone
        return


def keep_large_buffers_on_the_heap() -> bool:
    """Have glibc serve a sentence's audio buffer (~200 KB) from its heap, not from a fresh mmap.

    Above its mmap threshold (128 KB, raised only past the largest block freed so far) glibc maps every
    block anew, so each sentence's buffer faulted in ~50 zeroed pages and was unmapped again: 58 page
    faults per one-sentence request in a worker, a quarter of a millisecond of the request's latency here
    (`perf stat -e page-faults`, bench/README.md). Freed blocks now stay on the heap for the next sentence;
    the heap is trimmed once 32 MB lie free at its top. False where the C library has no mallopt (not glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, 16 * 2**20)) and bool(mallopt(_M_TRIM_THRESHOLD, 32 * 2**20))


def _serve(engine: Engine, channel: Channel) -> None:
    while True:
        frame = channel.recv()
        if frame.kind is Kind.STOP:
            return
        if frame.kind is Kind.SYNTH:
            assert isinstance(frame.payload, bytearray)
            request: SynthesisRequest = pickle.loads(frame.payload)
            if not _run(engine, channel, frame.number, request):
                return
        # A CANCEL for a request that already finished needs nothing.


def _run(engine: Engine, channel: Channel, number: int, request: SynthesisRequest) -> bool:
    """Stream one request's chunks, then DONE or ERROR. False when the parent asked us to stop."""
    cancel = CancelToken()
    keep_running = True
    chunks = engine.synthesize(request, cancel)
    while True:
        try:  # only the engine's own errors are reported; a broken channel ends the worker
            chunk = next(chunks, None)
        except Exception as exc:
            channel.send(Kind.ERROR, number, error_payload(exc))
            return keep_running
        if chunk is None:
            break
        keep_running = _poll_control(channel, cancel) and keep_running
        if cancel.cancelled:
            break
        channel.send_chunk(number, chunk)
    channel.send(Kind.DONE, number)
    return keep_running


def _poll_control(channel: Channel, cancel: CancelToken) -> bool:
    """Read any CANCEL/STOP that arrived while synthesising; False once STOP was seen."""
    keep_running = True
    while channel.readable():
        kind = channel.recv().kind
        if kind in (Kind.CANCEL, Kind.STOP):
            cancel.cancel()
        keep_running = keep_running and kind is not Kind.STOP
    return keep_running
