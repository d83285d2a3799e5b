"""The worker side of the pool: its frame channel over a real socket pair, and error transport."""

from __future__ import annotations

import pickle
import socket
import threading

import numpy as np
import pytest

from tts_server.engines.base import AudioChunk
from tts_server.errors import QueueFull, VoiceNotFound
from tts_server.runtime.runners.process_worker import Channel, Frame, Kind, error_payload


def test_a_large_chunk_arrives_whole_through_a_non_blocking_reader() -> None:
    parent, child_sock = Channel.pair()
    child = Channel(child_sock)
    samples = np.random.default_rng(0).standard_normal(500_000).astype(np.float32)  # 2 MB: many socket fills

    def write() -> None:
        child.send_chunk(7, AudioChunk(samples, 22_050))
        child.send(Kind.DONE, 7)

    writer = threading.Thread(target=write)
    parent.set_blocking(False)
    writer.start()
    frames: list[Frame] = []
    while len(frames) < 2:
        frames += parent.receive_available()  # returns at once with whatever is complete
    writer.join()
    chunk, done = frames
    assert (chunk.kind, chunk.number, done.kind, done.number) == (Kind.CHUNK, 7, Kind.DONE, 7)
    assert chunk.chunk().sample_rate == 22_050
    np.testing.assert_array_equal(chunk.chunk().samples, samples)
    assert chunk.chunk().samples.flags.writeable


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_chunks_keep_their_sample_type(dtype: type[np.float32] | type[np.int16]) -> None:
    parent, child_sock = Channel.pair()
    child = Channel(child_sock)
    samples = (np.random.default_rng(1).standard_normal(48_000) * 1000).astype(dtype)
    child.send_chunk(2, AudioChunk(samples, 24_000, progress=0.5))
    received = parent.recv().chunk()
    assert received.samples.dtype == dtype and received.progress == 0.5
    np.testing.assert_array_equal(received.samples, samples)


def test_frames_before_the_end_are_delivered_then_eof() -> None:
    parent, child_sock = Channel.pair()
    child = Channel(child_sock)
    child.send(Kind.READY)
    child.send(Kind.ERROR, 3, b"boom")
    child_sock.close()
    parent.set_blocking(False)
    frames = parent.receive_available()
    assert [(f.kind, f.number, bytes(f.payload)) for f in frames] == [(Kind.READY, 0, b""), (Kind.ERROR, 3, b"boom")]
    with pytest.raises(EOFError):
        parent.receive_available()


def test_blocking_receive_and_empty_payloads() -> None:
    left, right_sock = socket.socketpair()
    left_channel, right = Channel(left), Channel(right_sock)
    left_channel.send(Kind.CANCEL, 5)
    left_channel.send_chunk(6, AudioChunk(np.zeros(0, np.float32), 22_050))
    assert (right.recv().kind, right.recv().kind) == (Kind.CANCEL, Kind.CHUNK)
    assert not right.readable()


def test_service_errors_cross_intact() -> None:
    for error in (VoiceNotFound("bob"), QueueFull(retry_after=7)):
        copy = pickle.loads(error_payload(error))
        assert type(copy) is type(error)
        assert (copy.message, copy.param, copy.headers) == (error.message, error.param, error.headers)
    unpicklable = RuntimeError(lambda: None)
    assert isinstance(pickle.loads(error_payload(unpicklable)), RuntimeError)


def test_other_errors_cross_as_their_type_and_text() -> None:
    # A UnicodeEncodeError rebuilt from its args alone had no text: "Synthesis failed: " said nothing.
    try:
        "a \ud800 b".encode()
    except UnicodeEncodeError as error:
        copy = pickle.loads(error_payload(error))
    assert isinstance(copy, RuntimeError)
    assert (
        str(copy)
        == "UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 2: surrogates not allowed"
    )
