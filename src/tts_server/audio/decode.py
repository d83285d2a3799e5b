"""Decoding of uploaded audio (reference voices, transcription input) into mono float32."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer
from numpy.typing import NDArray

from tts_server.audio.effects import resample

# Demuxers an upload may use. Anything else (playlists, image sequences, ...) is refused before the
# demuxer runs, so a crafted upload cannot make ffmpeg open other files.
_ALLOWED_CONTAINERS = ",".join(
    ("wav", "w64", "mp3", "ogg", "flac", "mov", "mp4", "m4a", "matroska", "webm", "aac", "aiff", "caf")
)


@dataclass(frozen=True)
class DecodedAudio:
    samples: NDArray[np.float32]  # mono, in [-1, 1]
    sample_rate: int
    duration: float
    codec: str  # e.g. "mp3", "opus", "pcm_s16le"


class AudioDecodeError(ValueError):
    """The upload is not audio we can use; the message is meant for the user."""


def decode_audio(data: bytes, *, target_rate: int | None = None, max_seconds: float | None = None) -> DecodedAudio:
    """Decode wav, mp3, ogg (opus/vorbis), flac, m4a/aac or webm to mono float32.

    Channels are averaged; with `target_rate` the result is resampled. Decoding stops as soon as the
    audio passes `max_seconds`, so a long upload costs no more than the limit.
    """
    if not data:
        raise AudioDecodeError("the audio file is empty")
    try:
        with _open(data) as container:
            stream = _audio_stream(container)
            samples, rate = _decode_mono(container, stream, max_seconds)
            codec = stream.codec_context.codec.canonical_name
    except AudioDecodeError:
        raise
    except (av.FFmpegError, ValueError) as exc:  # ValueError: channel layout changed mid-stream
        raise AudioDecodeError(f"could not decode the audio: {exc}") from exc
    if len(samples) == 0:
        raise AudioDecodeError("the audio file contains no samples")
    if target_rate is not None and target_rate != rate:
        samples, rate = resample(samples, rate, target_rate), target_rate
    return DecodedAudio(samples, rate, len(samples) / rate, codec)


def _open(data: bytes) -> InputContainer:
    try:
        return av.open(io.BytesIO(data), "r", container_options={"format_whitelist": _ALLOWED_CONTAINERS})
    except av.FFmpegError as exc:
        raise AudioDecodeError("not a supported audio file (use wav, mp3, ogg, opus, flac, m4a/aac or webm)") from exc


def _audio_stream(container: InputContainer) -> AudioStream:
    if not container.streams.audio:
        raise AudioDecodeError("the file has no audio stream")
    return container.streams.audio[0]


def _decode_mono(
    container: InputContainer, stream: AudioStream, max_seconds: float | None
) -> tuple[NDArray[np.float32], int]:
    # fltp gives one row per channel whatever the codec's own sample format.
    resampler = av.AudioResampler(format="fltp")
    pieces: list[NDArray[np.float32]] = []
    count, rate = 0, stream.rate
    for frame in container.decode(stream):
        for converted in resampler.resample(frame):
            rate = converted.sample_rate
            pieces.append(converted.to_ndarray().astype(np.float32, copy=False).mean(axis=0))
            count += converted.samples
        if max_seconds is not None and rate and count / rate > max_seconds:
            raise AudioDecodeError(f"the audio is longer than the {max_seconds:g} s allowed")
    if not rate:
        raise AudioDecodeError("the audio stream has no sample rate")
    merged = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return merged.astype(np.float32, copy=False), rate


def is_silent(samples: NDArray[np.float32], threshold_dbfs: float = -50.0) -> bool:
    """True when the RMS of even the loudest 2,400-sample window stays below `threshold_dbfs`.

    Judging the loudest window (50-100 ms at speech rates) rather than the whole clip keeps a short
    word in a long pause from counting as silence.
    """
    if len(samples) == 0:
        return True
    window = min(len(samples), 2_400)
    energy = np.concatenate(([0.0], np.cumsum(np.square(samples, dtype=np.float64))))
    peak_rms = float(np.sqrt(max(0.0, (energy[window:] - energy[:-window]).max() / window)))
    return peak_rms == 0.0 or bool(20 * np.log10(peak_rms) < threshold_dbfs)
