"""The S1-mini codec against fish-speech 0.1.0's own outputs for a tiny random codec (no reference needed here)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from tests.engines.s1.codec_support import AUDIO_ATOL, TINY_CODEC, goldens, one_torch_thread
from tts_server.engines.s1.codec import S1Codec


@pytest.fixture(scope="module", autouse=True)
def single_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def codec() -> S1Codec:
    return S1Codec.from_checkpoint(TINY_CODEC)


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    return goldens()


def clip_tensor(samples: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(samples)[None, None]


def test_shape_attributes(codec: S1Codec) -> None:
    assert (codec.sample_rate, codec.hop_length, codec.num_codebooks) == (44100, 2048, 10)
    assert codec.codebook_sizes == (2048,) + (1024,) * 9  # the tiny semantic codebook is 2,048 (real: 4,096)
    assert [codec.frames_for(n) for n in (0, 1, 2048, 2049)] == [0, 1, 1, 2]


def test_encode_equals_reference(codec: S1Codec, golden: dict[str, np.ndarray]) -> None:
    codes = codec.encode(clip_tensor(golden["clip"]))
    assert codes.dtype == torch.int64
    np.testing.assert_array_equal(codes.numpy(), golden["clip_codes"])
    assert len(np.unique(golden["clip_codes"][0])) >= 4  # frames differ, so equal codes mean something


def test_batch_encode_equals_reference_and_single(codec: S1Codec, golden: dict[str, np.ndarray]) -> None:
    clips = [torch.from_numpy(golden["batch_short"]), torch.from_numpy(golden["batch_long"])]
    batched = codec.encode_batch(clips)
    for row, (codes, frames) in enumerate(zip(batched, golden["batch_frames"], strict=True)):
        assert codes.shape == (10, frames)
        np.testing.assert_array_equal(codes.numpy(), golden["batch_codes"][row, :, :frames])
        np.testing.assert_array_equal(codes.numpy(), codec.encode(clips[row][None, None])[0].numpy())


def test_decode_matches_reference(codec: S1Codec, golden: dict[str, np.ndarray]) -> None:
    """Including codes past their codebook's end, which the reference clamps."""
    for codes_name, audio_name in [
        ("decode_codes", "decode_audio"),
        ("batch_decode_codes", "batch_decode_audio"),
        ("clip_codes", "roundtrip_audio"),
    ]:
        audio = codec.decode(torch.from_numpy(golden[codes_name]))
        assert audio.dtype == torch.float32
        assert (
            audio.shape == golden[audio_name].shape == (len(golden[codes_name]), 1, 2048 * golden[codes_name].shape[-1])
        )
        np.testing.assert_allclose(audio.numpy(), golden[audio_name], rtol=0, atol=AUDIO_ATOL, err_msg=codes_name)
    assert np.abs(golden["decode_audio"]).std() > 0.05  # real signal, not near-silence


def test_batch_rows_decode_as_alone(codec: S1Codec, golden: dict[str, np.ndarray]) -> None:
    codes = torch.from_numpy(golden["batch_decode_codes"])
    together = codec.decode(codes)
    for row in range(len(codes)):
        np.testing.assert_allclose(
            together[row].numpy(), codec.decode(codes[row : row + 1])[0].numpy(), atol=AUDIO_ATOL
        )


@pytest.mark.parametrize("chunks", [[1] * 40, [3, 1, 12, 24], [40]], ids=["frame-by-frame", "uneven", "one-push"])
def test_stream_equals_whole_decode(codec: S1Codec, golden: dict[str, np.ndarray], chunks: list[int]) -> None:
    codes = torch.from_numpy(golden["decode_codes"][0])
    whole = codec.decode(codes[None])[0, 0].numpy()
    stream, start, pieces = codec.stream_decoder(), 0, []
    for size in chunks:
        piece = stream.push(codes[:, start : start + size])
        assert piece.dtype == np.float32 and len(piece) == size * codec.hop_length  # every pushed frame is final
        pieces.append(piece)
        start += size
    assert len(stream.flush()) == 0
    assert stream.frames == 40
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=AUDIO_ATOL)


def test_long_stream_past_windows_and_rope_table(codec: S1Codec) -> None:
    """150 frames: far past the attention windows and the 128 positions of the tiny checkpoint's RoPE table."""
    generator = torch.Generator().manual_seed(7)
    codes = torch.randint(0, 1024, (10, 150), generator=generator)
    whole = codec.decode(codes[None])[0, 0].numpy()
    stream = codec.stream_decoder()
    streamed = np.concatenate([stream.push(codes[:, start : start + 7]) for start in range(0, 150, 7)])
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=AUDIO_ATOL)


def test_stream_accepts_numpy_codes(codec: S1Codec, golden: dict[str, np.ndarray]) -> None:
    codes = golden["decode_codes"][0, :, :5]
    from_numpy = codec.stream_decoder().push(codes)
    from_tensor = codec.stream_decoder().push(torch.from_numpy(codes))
    np.testing.assert_array_equal(from_numpy, from_tensor)


def test_empty_inputs(codec: S1Codec) -> None:
    assert codec.encode(torch.zeros(2, 1, 0)).shape == (2, 10, 0)
    assert codec.decode(torch.zeros(1, 10, 0, dtype=torch.long)).shape == (1, 1, 0)
    assert len(codec.stream_decoder().push(torch.zeros(10, 0, dtype=torch.long))) == 0
    assert codec.encode_batch([]) == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.encode(torch.zeros(1, 4096)), "audio must be [batch, 1, samples]"),
        (lambda c: c.encode(torch.zeros(1, 2, 4096)), "audio must be [batch, 1, samples]"),
        (lambda c: c.decode(torch.zeros(1, 9, 4, dtype=torch.long)), "with 10 codebooks"),
        (lambda c: c.decode(torch.zeros(10, 4, dtype=torch.long)), "[batch, codebooks, frames]"),
        (lambda c: c.decode(torch.zeros(1, 10, 4)), "codes must be integers"),
        (lambda c: c.stream_decoder().push(torch.zeros(1, 10, 4, dtype=torch.long)), "[codebooks, frames]"),
    ],
)
def test_bad_shapes_are_refused(codec: S1Codec, call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=re.escape(message)):
        call(codec)


def test_bfloat16_decode_stays_close(golden: dict[str, np.ndarray]) -> None:
    """The dtype the GPU engine uses: same code path, bf16 rounding only."""
    codec = S1Codec.from_checkpoint(TINY_CODEC, dtype=torch.bfloat16)
    assert codec.dtype == torch.bfloat16
    audio = codec.decode(torch.from_numpy(golden["decode_codes"])).numpy()
    reference = golden["decode_audio"]
    assert np.corrcoef(audio.ravel(), reference.ravel())[0, 1] > 0.99
    assert len(codec.encode(clip_tensor(golden["clip"]))[0, 0]) == 6


# What the fixture perturbs, and the value each had before: loading any of them wrong must show in the outputs.
DEFAULTS = {
    "Snake alpha": (lambda name: name.endswith("alpha"), lambda p: torch.ones_like(p)),
    "layer scales": (lambda name: name.endswith("gamma"), lambda p: torch.full_like(p, 1e-2)),
    "norm weights": (lambda name: name.endswith("norm.weight"), lambda p: torch.ones_like(p)),
    "biases": (lambda name: name.endswith("bias"), lambda p: torch.zeros_like(p)),
}


@pytest.mark.parametrize("kind", DEFAULTS)
def test_fixture_depends_on_every_kind_of_parameter(golden: dict[str, np.ndarray], kind: str) -> None:
    """Guards the fixture itself: with one kind of parameter back at its default, the reference is missed."""
    selects, default = DEFAULTS[kind]
    codec = S1Codec.from_checkpoint(TINY_CODEC)
    with torch.no_grad():
        for name, parameter in codec.named_parameters():
            if selects(name):
                parameter.copy_(default(parameter))
    codes = codec.encode(clip_tensor(golden["clip"])).numpy()
    audio = codec.decode(torch.from_numpy(golden["decode_codes"])).numpy()
    assert not np.array_equal(codes, golden["clip_codes"])
    assert np.abs(audio - golden["decode_audio"]).max() > 1e-3


def test_streams_at_different_points_decode_in_one_batch(codec: S1Codec, golden: dict[str, np.ndarray]) -> None:
    """Three streams started at different times share pushes; each still hears exactly its whole decode."""
    generator = torch.Generator().manual_seed(11)
    clips = [torch.randint(0, 1024, (10, 30), generator=generator) for _ in range(3)]
    decoders = [codec.stream_decoder() for _ in clips]
    heard: list[list[np.ndarray]] = [[], [], []]
    heard[0].append(decoders[0].push(clips[0][:, :9]))  # stream 0 is 9 frames in, stream 2 is 2, stream 1 fresh
    heard[2].append(decoders[2].push(clips[2][:, :2]))
    done = [9, 0, 2]
    for size in (4, 1, 6):  # together
        batch = torch.stack([clip[:, start : start + size] for clip, start in zip(clips, done, strict=True)])
        for row, audio in enumerate(decoders[0].push_many(decoders, batch)):
            assert len(audio) == size * codec.hop_length
            heard[row].append(audio)
        done = [start + size for start in done]
    for row, (decoder, clip) in enumerate(zip(decoders, clips, strict=True)):  # and alone again
        heard[row].append(decoder.push(clip[:, done[row] :]))
        assert decoder.frames == 30
        whole = codec.decode(clip[None])[0, 0].numpy()
        np.testing.assert_allclose(np.concatenate(heard[row]), whole, rtol=0, atol=AUDIO_ATOL, err_msg=f"stream {row}")


def test_push_many_refuses_mismatches(codec: S1Codec) -> None:
    decoders = [codec.stream_decoder(), codec.stream_decoder()]
    with pytest.raises(ValueError, match="codes for 3 streams, but 2 decoders"):
        decoders[0].push_many(decoders, torch.zeros(3, 10, 2, dtype=torch.long))
    other = S1Codec.from_checkpoint(TINY_CODEC).stream_decoder()
    with pytest.raises(ValueError, match="different codecs"):
        decoders[0].push_many([decoders[0], other], torch.zeros(2, 10, 2, dtype=torch.long))
    assert decoders[0].push_many([], torch.zeros(0, 10, 2, dtype=torch.long)) == []
