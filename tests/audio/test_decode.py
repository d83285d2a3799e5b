"""Uploads in every accepted format decode to mono float32; anything else is refused clearly."""

from __future__ import annotations

import io
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest
from av.audio.stream import AudioStream
from numpy.typing import NDArray

from tests.support.signals import dbfs, noise, peak_frequency, tone
from tts_server.audio import decode as decode_module
from tts_server.audio.decode import AudioDecodeError, decode_audio, is_silent
from tts_server.audio.encode import AudioFormat, encode_audio

RATE = 48_000


def mux(container: str, codec: str, channels: NDArray[np.float32], rate: int = RATE) -> bytes:
    """A file as another program would write it: PyAV straight, into a seekable buffer."""
    layout = "mono" if len(channels) == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, options={"strict": "experimental"})
        assert isinstance(stream, AudioStream)
        stream.layout = layout
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channels), format="fltp", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def stereo_tone(seconds: float = 2.0) -> NDArray[np.float32]:
    return np.stack([tone(220, seconds, RATE), tone(220, seconds, RATE)])


UPLOADS = {
    "wav": lambda: encode_audio(tone(220, 2.0, RATE), RATE, AudioFormat.WAV),
    "mp3": lambda: encode_audio(tone(220, 2.0, RATE), RATE, AudioFormat.MP3),
    "ogg-opus": lambda: encode_audio(tone(220, 2.0, RATE), RATE, AudioFormat.OPUS),
    "flac": lambda: encode_audio(tone(220, 2.0, RATE), RATE, AudioFormat.FLAC),
    "aac-adts": lambda: encode_audio(tone(220, 2.0, RATE), RATE, AudioFormat.AAC),
    "ogg-vorbis": lambda: mux("ogg", "vorbis", stereo_tone()),  # ffmpeg's vorbis encoder is stereo-only
    "m4a": lambda: mux("ipod", "aac", stereo_tone()),
    "webm": lambda: mux("webm", "libopus", stereo_tone()),
}
CODECS = {
    "wav": "pcm_s16le",
    "mp3": "mp3",
    "ogg-opus": "opus",
    "flac": "flac",
    "aac-adts": "aac",
    "ogg-vorbis": "vorbis",
    "m4a": "aac",
    "webm": "opus",
}


@pytest.mark.parametrize("kind", list(UPLOADS))
def test_each_upload_format_decodes_to_mono(kind: str) -> None:
    decoded = decode_audio(UPLOADS[kind]())

    assert decoded.samples.dtype == np.float32 and decoded.samples.ndim == 1
    assert decoded.sample_rate == RATE
    assert decoded.codec == CODECS[kind]
    assert decoded.duration == pytest.approx(2.0, abs=0.1)
    assert decoded.duration == len(decoded.samples) / decoded.sample_rate
    assert peak_frequency(decoded.samples, RATE) == pytest.approx(220, rel=0.01)
    assert dbfs(decoded.samples) == pytest.approx(dbfs(tone(220, 2.0, RATE)), abs=1.0)


@pytest.mark.parametrize("kind", ["wav", "ogg-opus", "m4a"])
def test_target_rate_resamples(kind: str) -> None:
    decoded = decode_audio(UPLOADS[kind](), target_rate=16_000)
    assert decoded.sample_rate == 16_000
    assert decoded.duration == pytest.approx(2.0, abs=0.1)
    assert peak_frequency(decoded.samples, 16_000) == pytest.approx(220, rel=0.01)


def test_stereo_is_mixed_to_mono() -> None:
    left, right = tone(220, 1.0, RATE), tone(330, 1.0, RATE, amplitude=0.2)
    decoded = decode_audio(mux("wav", "pcm_s16le", np.stack([left, right])))
    np.testing.assert_allclose(decoded.samples, (left + right) / 2, atol=1e-3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (np.random.default_rng(1).bytes(20_000), "not a supported audio file"),
        (b"Hello, this is a text file and not audio at all.\n" * 50, "not a supported audio file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500), "not a supported audio file"),
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n", "not a supported audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a supported audio file"),  # cut off in the header
    ],
    ids=["empty", "garbage", "text", "png", "playlist", "truncated-wav"],
)
def test_what_is_not_audio_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(AudioDecodeError, match=message):
        decode_audio(data)


def test_a_file_without_an_audio_stream_is_refused() -> None:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as output:
        stream = output.add_stream("libvpx", rate=10) if "libvpx" in av.codecs_available else None
        if stream is None:
            pytest.skip("no webm video encoder in this PyAV build")
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        decode_audio(buffer.getvalue())


def test_audio_over_the_limit_is_refused() -> None:
    data = encode_audio(tone(220, 5.0, RATE), RATE, AudioFormat.FLAC)
    with pytest.raises(AudioDecodeError, match="longer than the 2 s allowed"):
        decode_audio(data, max_seconds=2.0)
    assert decode_audio(data, max_seconds=6.0).duration == pytest.approx(5.0)


def test_a_long_upload_is_refused_without_reading_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten minutes against a 10 s limit: decoding stops at the limit, so little of the file is read."""
    data = encode_audio(np.zeros(600 * 8_000, dtype=np.float32), 8_000, AudioFormat.WAV)
    furthest = 0

    class TrackedBytesIO(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            nonlocal furthest
            chunk = super().read(size)
            furthest = max(furthest, self.tell())
            return chunk

    monkeypatch.setattr(decode_module, "io", SimpleNamespace(BytesIO=TrackedBytesIO))
    with pytest.raises(AudioDecodeError, match="longer than"):
        decode_audio(data, max_seconds=10)
    assert 0 < furthest < len(data) / 20


@pytest.mark.parametrize(
    ("samples", "silent"),
    [
        (np.zeros(24_000, dtype=np.float32), True),
        (np.zeros(0, dtype=np.float32), True),
        (noise(1.0, 24_000, amplitude=0.0005), True),  # about -66 dBFS
        (tone(220, 1.0, 24_000, amplitude=0.1), False),
        (np.concatenate([np.zeros(240_000), tone(220, 0.15, 24_000), np.zeros(240_000)]), False),
    ],
    ids=["zeros", "empty", "faint-noise", "tone", "word-in-long-pause"],
)
def test_is_silent(samples: NDArray[np.float32], silent: bool) -> None:
    assert is_silent(samples.astype(np.float32)) is silent
