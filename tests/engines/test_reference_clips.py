"""The reference-clip checks and cache the cloning engines (Dia, S1-mini) share: real WAV files on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.store.conftest import voice_wav
from tts_server.engines.base import ReferenceAudio
from tts_server.engines.reference_clips import ReferenceCache, read_clip, require_transcript
from tts_server.errors import AudioProcessingError, InvalidRequest


def reference(
    path: Path, *, seconds: float = 1.0, transcript: str = "Hello there.", name: str = "ref"
) -> ReferenceAudio:
    if not path.exists():
        path.write_bytes(voice_wav(seconds=seconds, rate=24_000))
    return ReferenceAudio(name, path, transcript, content_hash=path.name, duration=seconds, sample_rate=24_000)


def test_a_clip_is_read_at_the_engines_rate(tmp_path: Path) -> None:
    decoded = read_clip(reference(tmp_path / "a.wav"), rate=44_100, max_seconds=10, engine="Dia", advice="any")
    assert decoded.sample_rate == 44_100 and decoded.duration == pytest.approx(1.0, abs=0.01)
    assert float(np.abs(decoded.samples).max()) > 0.01


def test_a_clip_too_long_names_the_engine_and_its_limit(tmp_path: Path) -> None:
    clip = reference(tmp_path / "long.wav", seconds=3.0)
    with pytest.raises(AudioProcessingError) as raised:
        read_clip(clip, rate=24_000, max_seconds=2, engine="S1-mini", advice="10-20 s works well")
    assert raised.value.message == (
        "Reference voice 'ref' is 3.0 s long; S1-mini clones from at most 2 s (10-20 s works well). "
        "Upload a shorter clip."
    )


def test_an_unreadable_clip_and_a_missing_transcript_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    with pytest.raises(AudioProcessingError, match="Reference voice 'ref' could not be read"):
        read_clip(reference(broken), rate=24_000, max_seconds=10, engine="Dia", advice="any")
    with pytest.raises(InvalidRequest, match="no transcript; Dia needs the words"):
        require_transcript(reference(tmp_path / "a.wav", transcript=" \n"), " \n", "Dia")


def test_the_cache_encodes_each_clip_once_and_drops_the_oldest(tmp_path: Path) -> None:
    cache: ReferenceCache[str] = ReferenceCache(capacity=2)
    clips = [reference(tmp_path / f"{n}.wav") for n in range(3)]
    for clip in [clips[0], clips[1], clips[0], clips[2], clips[0], clips[1]]:
        assert cache.get(clip, lambda ref: f"codes of {ref.audio_path.name}") == f"codes of {clip.audio_path.name}"
    assert cache.encodings == 4  # 0, 1, 2, then 1 again: dropped when 2 came while 0 was the most recent
