"""Incremental encoders for every response format.

Samples come in as mono chunks (float32, or int16 passed through as is) at the engine's rate; bytes
come out as soon as the codec yields them, so a stream starts playing before synthesis ends. Compressed
formats are muxed by PyAV into a sink that cannot seek: muxers then never go back to patch a header,
and every byte handed out stays valid. WAV and raw PCM are simple enough to write here directly.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

import av
import numpy as np
from av.audio.stream import AudioStream
from numpy.typing import NDArray

from tts_server.audio.samples import Samples, is_pcm16, to_float32


class AudioFormat(StrEnum):
    WAV = "wav"
    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    FLAC = "flac"
    PCM = "pcm"


MEDIA_TYPES: Mapping[AudioFormat, str] = MappingProxyType(
    {
        AudioFormat.WAV: "audio/wav",
        AudioFormat.MP3: "audio/mpeg",
        AudioFormat.OPUS: "audio/ogg; codecs=opus",
        AudioFormat.AAC: "audio/aac",
        AudioFormat.FLAC: "audio/flac",
        AudioFormat.PCM: "audio/pcm",
    }
)

PCM_DEFAULT_RATE = 24_000  # OpenAI defines `pcm` as 16-bit little-endian mono at 24 kHz
_OPUS_RATES = (48_000, 24_000, 16_000, 12_000, 8_000)
_MP3_RATES = (48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000)
_AAC_RATES = (96_000, 88_200, 64_000, *_MP3_RATES, 7_350)
_ANY_RATE = range(8_000, 192_001)
_STREAMING_WAV_SIZE = 0xFFFFFFFF  # "unknown length", as ffmpeg writes when it cannot seek back
_WAV_HEADER_BYTES = 44


@dataclass(frozen=True, slots=True)
class _Codec:
    container: str
    codec: str
    sample_format: str
    bit_rate: int | None
    rates: tuple[int, ...]
    muxer_options: Mapping[str, str] = field(default_factory=dict)


_CODECS: Mapping[AudioFormat, _Codec] = MappingProxyType(
    {
        AudioFormat.MP3: _Codec("mp3", "libmp3lame", "fltp", 128_000, _MP3_RATES),
        AudioFormat.AAC: _Codec("adts", "aac", "fltp", 128_000, _AAC_RATES),
        # Ogg holds packets until a page spans page_duration (default 1 s); 100 ms pages keep the
        # stream moving for ~4% overhead at 64 kb/s.
        AudioFormat.OPUS: _Codec("ogg", "libopus", "flt", 64_000, _OPUS_RATES, {"page_duration": "100000"}),
        # The muxer reserves 8 KiB of padding for later tag edits by default: dead weight in a stream.
        AudioFormat.FLAC: _Codec("flac", "flac", "s16", None, (), {"metadata_header_padding": "0"}),
    }
)


def output_sample_rate(fmt: AudioFormat, source_rate: int, requested: int | None) -> int:
    """The rate `fmt` will be encoded at: `requested` when the format allows it, else a default.

    Defaults: pcm 24 kHz, opus 48 kHz, mp3/aac the source rate when the codec supports it (else the
    nearest supported rate above it), wav/flac the source rate. Raises ValueError for a requested
    rate the format cannot carry.
    """
    codec = _CODECS.get(fmt)
    allowed: tuple[int, ...] | range = codec.rates if codec and codec.rates else _ANY_RATE
    if requested is not None:
        if requested not in allowed:
            raise ValueError(f"sample rate {requested} Hz is not supported for {fmt}; {_describe(allowed)}")
        return requested
    if fmt is AudioFormat.PCM:
        return PCM_DEFAULT_RATE
    if fmt is AudioFormat.OPUS:
        return 48_000
    if source_rate in allowed:
        return source_rate
    higher = [rate for rate in allowed if rate >= source_rate]
    return min(higher) if higher else max(allowed)


def _describe(allowed: tuple[int, ...] | range) -> str:
    if isinstance(allowed, range):
        return f"use {allowed.start}-{allowed.stop - 1} Hz"
    return "use one of " + ", ".join(str(rate) for rate in sorted(allowed)) + " Hz"


class _Resampler:
    """Mono chunks (float32 or int16) in, frames of one sample format and rate out, timestamps kept."""

    def __init__(self, input_rate: int, output_rate: int, sample_format: str) -> None:
        self._input_rate = input_rate
        self._resampler = av.AudioResampler(format=sample_format, layout="mono", rate=output_rate)
        self._pts = 0

    def frames(self, samples: Samples) -> list[av.AudioFrame]:
        frame = _input_frame(samples)
        frame.sample_rate = self._input_rate
        frame.time_base = Fraction(1, self._input_rate)
        frame.pts = self._pts
        self._pts += len(samples)
        return self._resampler.resample(frame)

    def flush(self) -> list[av.AudioFrame]:
        return self._resampler.resample(None)


def _input_frame(samples: Samples) -> av.AudioFrame:
    if is_pcm16(samples):
        planar = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
        return av.AudioFrame.from_ndarray(planar, format="s16", layout="mono")
    # A model gone wrong can emit NaN or inf; silence and full scale beat codec garbage.
    finite = np.nan_to_num(to_float32(samples), nan=0.0, posinf=1.0, neginf=-1.0)
    clipped = np.clip(finite, -1.0, 1.0).reshape(1, -1)
    return av.AudioFrame.from_ndarray(np.ascontiguousarray(clipped), format="flt", layout="mono")


class _Sink:
    """A write-only file object for PyAV. Having no `seek`, it tells the muxer the output is a stream."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


class _PcmEncoder:
    """Raw s16le, optionally behind a streaming WAV header (sizes 'unknown')."""

    def __init__(self, input_rate: int, output_rate: int, wav_header: bool) -> None:
        # At the source rate nothing needs resampling: a numpy conversion gives the same bytes as
        # swresample at well under half the cost of a PyAV frame and filter graph per request.
        self._resampler = _Resampler(input_rate, output_rate, "s16") if input_rate != output_rate else None
        self._header = _wav_header(output_rate, None) if wav_header else b""

    def encode(self, samples: Samples) -> bytes:
        if self._resampler is None:
            # One copy, straight from the samples into the bytes handed out: at ~0.1 ms per 200 KB
            # (fresh pages fault in), every extra copy shows in a short sentence's latency.
            return b"".join((self._take_header(), s16_samples(samples).data))
        return self._take_header() + _s16_bytes(self._resampler.frames(samples))

    def finish(self) -> bytes:
        tail = _s16_bytes(self._resampler.flush()) if self._resampler is not None else b""
        return self._take_header() + tail

    def close(self) -> None:
        pass

    def _take_header(self) -> bytes:
        header, self._header = self._header, b""
        return header


def s16_samples(samples: Samples) -> NDArray[np.int16]:
    """Contiguous 16-bit little-endian samples: int16 as they are (no copy), float ones converted."""
    if is_pcm16(samples):
        return np.ascontiguousarray(samples, dtype="<i2")
    return float_to_s16(to_float32(samples))


def float_to_s16(samples: NDArray[np.float32]) -> NDArray[np.int16]:
    """Float samples as 16-bit little-endian PCM, exactly as swresample converts them: scaled by
    32768, rounded to nearest (ties to even), clipped; NaN becomes silence."""
    scaled = np.multiply(samples, np.float32(32768), dtype=np.float32)  # a power of two: exact
    np.rint(scaled, out=scaled)
    np.clip(scaled, -32768, 32767, out=scaled)
    np.copyto(scaled, 0, where=np.isnan(scaled))  # a quarter of nan_to_num's cost
    return scaled.astype("<i2")


def _s16_bytes(frames: list[av.AudioFrame]) -> bytes:
    return b"".join(frame.to_ndarray().astype("<i2", copy=False).tobytes() for frame in frames)


def _wav_header(rate: int, data_bytes: int | None) -> bytes:
    """The canonical 44-byte header for 16-bit mono PCM; `None` writes the streaming sizes."""
    data_size = _STREAMING_WAV_SIZE if data_bytes is None else data_bytes
    riff_size = _STREAMING_WAV_SIZE if data_bytes is None else 36 + data_bytes
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", riff_size, b"WAVE"),
        *(b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16),  # PCM, mono, rate, byte rate, align, bits
        *(b"data", data_size),
    )


class _MuxedEncoder:
    """A PyAV encoder + muxer. Streaming, it drains the sink after every call; for a whole clip it
    writes to a seekable buffer so muxers can finish their headers (mp3's gapless tag, FLAC's length)."""

    def __init__(self, spec: _Codec, input_rate: int, output_rate: int, streaming: bool) -> None:
        self._sink: _Sink | io.BytesIO = _Sink() if streaming else io.BytesIO()
        self._container = av.open(self._sink, "w", format=spec.container, options=dict(spec.muxer_options))
        stream = self._container.add_stream(spec.codec, rate=output_rate)
        assert isinstance(stream, AudioStream)
        stream.layout = "mono"
        stream.format = spec.sample_format
        if spec.bit_rate is not None:
            stream.bit_rate = spec.bit_rate
        self._stream = stream
        self._resampler = _Resampler(input_rate, output_rate, spec.sample_format)

    def encode(self, samples: Samples) -> bytes:
        self._mux(self._resampler.frames(samples))
        return self._drain()

    def finish(self) -> bytes:
        self._container.start_encoding()  # headers even for an empty clip: still a valid file
        self._mux([*self._resampler.flush(), None])
        self._container.close()
        if isinstance(self._sink, io.BytesIO):
            return self._sink.getvalue()
        return self._drain()

    def close(self) -> None:
        self._container.close()

    def _mux(self, frames: Sequence[av.AudioFrame | None]) -> None:
        for frame in frames:
            self._container.mux(self._stream.encode(frame))

    def _drain(self) -> bytes:
        return self._sink.drain() if isinstance(self._sink, _Sink) else b""


class StreamEncoder:
    """Incremental encoder: feed mono chunks (float32 or int16), get bytes out as soon as the codec
    yields them.

    Call `finish()` once at the end for the codec's tail and the container trailer, or `close()` to
    abandon the stream (a client went away). Not thread-safe: one producer per encoder.
    """

    def __init__(self, fmt: AudioFormat, input_rate: int, output_rate: int | None = None) -> None:
        self._format = fmt
        self._output_rate = output_sample_rate(fmt, input_rate, output_rate)
        self._encoder = _make_encoder(fmt, input_rate, self._output_rate, streaming=True)
        self._finished = False

    @property
    def format(self) -> AudioFormat:
        return self._format

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self._format]

    @property
    def output_rate(self) -> int:
        return self._output_rate

    def encode(self, samples: Samples) -> bytes:
        """Encode one chunk; returns the bytes ready now (may be b"" while the codec buffers)."""
        if self._finished:
            raise RuntimeError("encoder already finished")
        if len(samples) == 0:
            return b""
        return self._encoder.encode(samples)

    def finish(self) -> bytes:
        """Flush the codec and write the trailer; the encoder is spent afterwards."""
        if self._finished:
            raise RuntimeError("encoder already finished")
        self._finished = True
        return self._encoder.finish()

    def close(self) -> None:
        """Release the codec without finishing the stream. Safe to call at any time, repeatedly."""
        if not self._finished:
            self._finished = True
            self._encoder.close()


def _make_encoder(
    fmt: AudioFormat, input_rate: int, output_rate: int, *, streaming: bool
) -> _PcmEncoder | _MuxedEncoder:
    if input_rate <= 0:
        raise ValueError(f"input sample rate must be positive, got {input_rate}")
    if fmt in (AudioFormat.WAV, AudioFormat.PCM):
        return _PcmEncoder(input_rate, output_rate, wav_header=fmt is AudioFormat.WAV)
    return _MuxedEncoder(_CODECS[fmt], input_rate, output_rate, streaming)


def whole_wav(parts: Sequence[bytes]) -> bytes:
    """A streamed WAV's parts as one file whose header states its real sizes (Python's wave module and
    many players trust them), in the one copy that joining the parts takes anyway: the first part's
    streaming header is left out and a sized one put in front."""
    first = memoryview(parts[0])
    if len(first) < _WAV_HEADER_BYTES or bytes(first[:4]) != b"RIFF" or bytes(first[36:40]) != b"data":
        raise ValueError("not a streamed WAV: the first part must start with its 44-byte header")
    rate: int = struct.unpack_from("<I", first, 24)[0]
    data_bytes = sum(len(part) for part in parts) - _WAV_HEADER_BYTES
    return b"".join([_wav_header(rate, data_bytes), first[_WAV_HEADER_BYTES:], *parts[1:]])


def encode_audio(samples: Samples, input_rate: int, fmt: AudioFormat, output_rate: int | None = None) -> bytes:
    """Encode a whole clip. Unlike a stream, its headers carry exact lengths."""
    rate = output_sample_rate(fmt, input_rate, output_rate)
    if fmt is AudioFormat.WAV:
        pcm = encode_audio(samples, input_rate, AudioFormat.PCM, rate)
        return _wav_header(rate, len(pcm)) + pcm
    encoder = _make_encoder(fmt, input_rate, rate, streaming=False)
    body = encoder.encode(samples) if len(samples) else b""
    return body + encoder.finish()
