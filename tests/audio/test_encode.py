"""Every response format, encoded whole and streamed, decoded back with PyAV (not our own decoder)."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
from numpy.typing import NDArray

from tests.support.audio import Decoded, decode_bytes, decode_pcm
from tests.support.signals import dbfs, noise, peak_frequency, sweep, tone
from tts_server.audio.encode import (
    MEDIA_TYPES,
    AudioFormat,
    StreamEncoder,
    encode_audio,
    output_sample_rate,
    whole_wav,
)

RATE = 24_000
CHUNK = RATE // 10  # 100 ms
LOSSLESS = (AudioFormat.WAV, AudioFormat.FLAC, AudioFormat.PCM)
LOSSY = (AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.AAC)
# Codec delay the decoder does not trim: AAC in ADTS cannot signal its 1024 priming samples, and a
# streamed mp3 has no LAME tag (it would need a seek back) to declare the encoder's padding.
DURATION_SLACK = 0.1


def decode(data: bytes, fmt: AudioFormat, rate: int = 24_000) -> Decoded:
    return decode_pcm(data, rate) if fmt is AudioFormat.PCM else decode_bytes(data)


def stream_encode(samples: NDArray[np.float32], fmt: AudioFormat, chunk: int = CHUNK) -> list[bytes]:
    """The encoder's output per 100 ms chunk, and finish() last."""
    encoder = StreamEncoder(fmt, RATE)
    parts = [encoder.encode(samples[i : i + chunk]) for i in range(0, len(samples), chunk)]
    return [*parts, encoder.finish()]


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_whole_clip_round_trips_as_mono_at_the_promised_rate(fmt: AudioFormat) -> None:
    signal = tone(220, 2.0, RATE)
    decoded = decode(encode_audio(signal, RATE, fmt), fmt)

    assert decoded.channels == 1
    assert decoded.sample_rate == output_sample_rate(fmt, RATE, None)
    assert 2.0 <= decoded.duration <= 2.0 + DURATION_SLACK
    assert peak_frequency(decoded.samples, decoded.sample_rate) == pytest.approx(220, rel=0.01)
    assert dbfs(decoded.samples) == pytest.approx(dbfs(signal), abs=1.0)


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.FLAC, AudioFormat.MP3])
def test_whole_clip_headers_give_the_exact_length(fmt: AudioFormat) -> None:
    """Whole clips go through a seekable buffer: mp3 gets its gapless tag, flac its sample count."""
    decoded = decode_bytes(encode_audio(tone(220, 1.5, RATE), RATE, fmt))
    assert len(decoded.samples) == round(1.5 * RATE)


@pytest.mark.parametrize("fmt", LOSSLESS)
def test_lossless_formats_keep_the_samples(fmt: AudioFormat) -> None:
    signal = sweep(1.0, RATE) + noise(1.0, RATE, amplitude=0.05)
    decoded = decode(encode_audio(signal, RATE, fmt), fmt)
    assert len(decoded.samples) == len(signal)
    assert np.max(np.abs(decoded.samples - signal)) < 1.5 / 32768


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_streamed_chunks_concatenate_into_a_valid_file_of_the_full_duration(fmt: AudioFormat) -> None:
    signal = sweep(3.0, RATE)
    decoded = decode(b"".join(stream_encode(signal, fmt)), fmt)

    assert decoded.channels == 1
    assert decoded.sample_rate == output_sample_rate(fmt, RATE, None)
    assert 3.0 <= decoded.duration <= 3.0 + DURATION_SLACK
    if fmt in LOSSLESS:
        np.testing.assert_allclose(decoded.samples, signal, atol=1.5 / 32768)


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_first_second_of_audio_comes_out_at_once(fmt: AudioFormat) -> None:
    encoder = StreamEncoder(fmt, RATE)
    first = encoder.encode(tone(220, 1.0, RATE))
    assert first, "a second of input must already produce bytes"
    # Not just a header: the bytes so far decode to most of that second. The rest is codec delay
    # (mp3, aac: a frame or two of look-ahead; opus: the Ogg page still being filled).
    assert decode(first, fmt).duration >= 0.75


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_audio_keeps_flowing_during_a_stream(fmt: AudioFormat) -> None:
    """Bytes arrive throughout the stream, not in a burst at the end."""
    parts = stream_encode(tone(220, 3.0, RATE), fmt)
    emitted_after_1s = sum(len(p) for p in parts[:10])
    assert decode(b"".join(parts[:10]), fmt).duration >= 0.75
    assert sum(1 for p in parts[10:-1] if p) >= 15  # of 20 later chunks
    assert emitted_after_1s < sum(len(p) for p in parts) / 2


def test_first_100ms_chunk_yields_bytes_except_where_the_codec_must_wait() -> None:
    """Which formats answer a single 100 ms chunk at once. Opus does not: its first Ogg pages carry
    only the stream headers until a page holds 100 ms of packets, and libopus looks 6.5 ms ahead."""
    for fmt in AudioFormat:
        first = StreamEncoder(fmt, RATE).encode(tone(220, 0.1, RATE))
        assert first, fmt
        if fmt is not AudioFormat.OPUS:
            assert decode(first, fmt).duration > 0, fmt


def test_pcm_is_16_bit_mono_at_24khz_by_default() -> None:
    assert len(encode_audio(tone(220, 1.0, RATE), RATE, AudioFormat.PCM)) == 2 * 24_000
    from_44k = encode_audio(tone(220, 1.0, 44_100), 44_100, AudioFormat.PCM)
    assert abs(len(from_44k) - 2 * 24_000) <= 4
    assert peak_frequency(decode_pcm(from_44k).samples, 24_000) == pytest.approx(220, rel=0.01)


def test_opus_is_really_opus_in_ogg() -> None:
    data = encode_audio(tone(220, 1.0, RATE), RATE, AudioFormat.OPUS)
    decoded = decode_bytes(data)
    assert (decoded.container, decoded.codec) == ("ogg", "opus")
    assert data.startswith(b"OggS") and b"OpusHead" in data[:100]
    assert MEDIA_TYPES[AudioFormat.OPUS].startswith("audio/ogg")


def test_media_types() -> None:
    assert {fmt: MEDIA_TYPES[fmt].split(";")[0] for fmt in AudioFormat} == {
        AudioFormat.WAV: "audio/wav",
        AudioFormat.MP3: "audio/mpeg",
        AudioFormat.OPUS: "audio/ogg",
        AudioFormat.AAC: "audio/aac",
        AudioFormat.FLAC: "audio/flac",
        AudioFormat.PCM: "audio/pcm",
    }
    encoder = StreamEncoder(AudioFormat.MP3, RATE)
    assert (encoder.format, encoder.media_type) == (AudioFormat.MP3, "audio/mpeg")


def test_wav_header_sizes_are_exact_for_a_clip_and_unknown_for_a_stream() -> None:
    signal = tone(220, 0.5, RATE)
    clip = encode_audio(signal, RATE, AudioFormat.WAV)
    assert struct.unpack("<I", clip[4:8])[0] == len(clip) - 8
    assert clip[36:40] == b"data" and struct.unpack("<I", clip[40:44])[0] == len(clip) - 44
    with wave.open(io.BytesIO(clip)) as reader:  # the standard library agrees
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, RATE)
        assert reader.getnframes() == len(signal)

    streamed = b"".join(stream_encode(signal, AudioFormat.WAV))
    assert streamed[44:] == clip[44:]
    assert struct.unpack("<I", streamed[4:8])[0] == struct.unpack("<I", streamed[40:44])[0] == 0xFFFFFFFF


@pytest.mark.parametrize("output_rate", [RATE, 16_000])
def test_a_streamed_wav_joined_whole_gets_the_clip_header(output_rate: int) -> None:
    signal = tone(220, 0.5, RATE)
    encoder = StreamEncoder(AudioFormat.WAV, RATE, output_rate)
    parts = [encoder.encode(signal[i : i + CHUNK]) for i in range(0, len(signal), CHUNK)]
    parts = [part for part in [*parts, encoder.finish()] if part]
    assert whole_wav(parts) == encode_audio(signal, RATE, AudioFormat.WAV, output_rate)
    with pytest.raises(ValueError, match="not a streamed WAV"):
        whole_wav([b"ID3" + bytes(60)])


def test_samples_beyond_full_scale_are_clipped_not_wrapped() -> None:
    loud = np.array([2.0, -3.0, 0.5, np.nan, np.inf], dtype=np.float32)
    pcm = np.frombuffer(encode_audio(loud, RATE, AudioFormat.PCM), dtype="<i2")
    assert pcm[0] == 32767 and pcm[1] == -32768 and pcm[2] == pytest.approx(16384, abs=1)
    assert pcm[3] == 0 and pcm[4] == 32767


@pytest.mark.parametrize(
    ("fmt", "requested", "rate"),
    [
        (AudioFormat.WAV, 16_000, 16_000),
        (AudioFormat.FLAC, 44_100, 44_100),
        (AudioFormat.MP3, 22_050, 22_050),
        (AudioFormat.AAC, 48_000, 48_000),
        (AudioFormat.OPUS, 16_000, 16_000),
        (AudioFormat.PCM, 8_000, 8_000),
    ],
)
def test_requested_rate_is_honoured(fmt: AudioFormat, requested: int, rate: int) -> None:
    encoder = StreamEncoder(fmt, RATE, requested)
    assert encoder.output_rate == rate
    data = encoder.encode(tone(220, 2.0, RATE)) + encoder.finish()
    decoded = decode(data, fmt, rate)
    if fmt is AudioFormat.OPUS:
        # Ogg Opus always plays at 48 kHz; the header records the rate it was encoded from.
        head = data.index(b"OpusHead")
        assert struct.unpack("<I", data[head + 12 : head + 16])[0] == rate
        rate = 48_000
    assert decoded.sample_rate == rate
    assert 2.0 - 0.01 <= decoded.duration <= 2.0 + DURATION_SLACK
    assert peak_frequency(decoded.samples, rate) == pytest.approx(220, rel=0.01)


@pytest.mark.parametrize(
    ("fmt", "source", "rate"),
    [
        (AudioFormat.PCM, 44_100, 24_000),
        (AudioFormat.OPUS, 24_000, 48_000),
        (AudioFormat.OPUS, 44_100, 48_000),
        (AudioFormat.MP3, 24_000, 24_000),
        (AudioFormat.MP3, 44_100, 44_100),
        (AudioFormat.MP3, 96_000, 48_000),
        (AudioFormat.AAC, 22_050, 22_050),
        (AudioFormat.AAC, 20_000, 22_050),
        (AudioFormat.WAV, 22_050, 22_050),
        (AudioFormat.FLAC, 44_100, 44_100),
    ],
)
def test_default_rates(fmt: AudioFormat, source: int, rate: int) -> None:
    assert output_sample_rate(fmt, source, None) == rate


@pytest.mark.parametrize(
    ("fmt", "requested"),
    [(AudioFormat.OPUS, 44_100), (AudioFormat.MP3, 96_000), (AudioFormat.AAC, 36_000), (AudioFormat.WAV, 0)],
)
def test_a_rate_the_format_cannot_carry_is_refused_with_the_choices(fmt: AudioFormat, requested: int) -> None:
    with pytest.raises(ValueError, match=f"{requested} Hz is not supported for {fmt}") as error:
        StreamEncoder(fmt, RATE, requested)
    assert "Hz" in str(error.value).split(";")[1]


def test_an_encoder_is_spent_after_finish_and_close_is_always_safe() -> None:
    encoder = StreamEncoder(AudioFormat.MP3, RATE)
    encoder.encode(tone(220, 0.5, RATE))
    encoder.finish()
    with pytest.raises(RuntimeError):
        encoder.encode(tone(220, 0.5, RATE))
    with pytest.raises(RuntimeError):
        encoder.finish()
    encoder.close()

    abandoned = StreamEncoder(AudioFormat.OPUS, RATE)
    abandoned.encode(tone(220, 0.5, RATE))
    abandoned.close()
    abandoned.close()


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_an_empty_clip_encodes_without_error(fmt: AudioFormat) -> None:
    data = encode_audio(np.zeros(0, dtype=np.float32), RATE, fmt)
    if fmt in (AudioFormat.WAV, AudioFormat.FLAC):  # header-only mp3/ogg files exist but ffmpeg won't probe them
        assert decode_bytes(data).duration == 0


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_int16_samples_encode_as_their_float_equivalent(fmt: AudioFormat) -> None:
    """Engines that make 16-bit audio hand it over unconverted: the output matches the float path
    (byte for byte in the lossless formats, including a resampled pcm at 24 kHz from 22.05 kHz)."""
    pcm16 = np.round(tone(220, 1.0, 22_050) * 20_000).astype(np.int16)
    as_float = pcm16.astype(np.float32) / 32768
    from_int = decode(encode_audio(pcm16, 22_050, fmt), fmt)
    from_float = decode(encode_audio(as_float, 22_050, fmt), fmt)
    assert from_int.sample_rate == from_float.sample_rate and len(from_int.samples) == len(from_float.samples)
    if fmt in LOSSLESS:
        np.testing.assert_array_equal(from_int.samples, from_float.samples)
    else:
        assert dbfs(from_int.samples) == pytest.approx(dbfs(from_float.samples), abs=0.5)
        assert peak_frequency(from_int.samples, from_int.sample_rate) == pytest.approx(220, rel=0.01)


def test_streamed_int16_pcm_is_the_samples_themselves() -> None:
    pcm16 = np.arange(-5_000, 5_000, dtype=np.int16)
    encoder = StreamEncoder(AudioFormat.PCM, RATE)
    assert encoder.encode(pcm16[:4_000]) + encoder.encode(pcm16[4_000:]) + encoder.finish() == pcm16.tobytes()
