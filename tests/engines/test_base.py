"""The engine contract's value types: what crosses to a worker process must arrive intact."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field, fields
from pathlib import Path

import pytest

from tts_server.engines.base import (
    ReferenceAudio,
    SamplingParams,
    SynthesisRequest,
    VoiceSelection,
    pickled_by_constructor,
)


def every_field_set() -> SynthesisRequest:
    """A request whose every field (nested ones too) differs from its default, so a value landing in
    the wrong field cannot go unnoticed."""
    reference = ReferenceAudio(
        "narrator", Path("/data/audio_prompts/narrator.wav"), "Hello there.", "ab12", 3.5, 44_100
    )
    voice = VoiceSelection("narrator", "aria", reference, "S2", 42, "de")
    sampling = SamplingParams(0.9, 0.8, 40, 3.5, 1.2, 2048, 7, True)
    return SynthesisRequest("Guten Tag.", voice, 1.5, sampling, "calm", "req-1", 200)


def test_a_request_survives_pickling_with_every_field_in_place() -> None:
    request = every_field_set()
    copy = pickle.loads(pickle.dumps(request))
    assert copy == request
    assert [getattr(copy.sampling, f.name) for f in fields(SamplingParams)] == [0.9, 0.8, 40, 3.5, 1.2, 2048, 7, True]
    assert copy.voice.reference is not None and copy.voice.reference.audio_path == Path(
        "/data/audio_prompts/narrator.wav"
    )


def test_defaults_survive_pickling_too() -> None:
    request = SynthesisRequest("Hi.", VoiceSelection("default"))
    assert pickle.loads(pickle.dumps(request)) == request


def test_a_single_field_class_pickles() -> None:
    @dataclass(frozen=True, slots=True)
    class Single:
        value: int

    # Not decorated at module level, so check the reduction itself rather than a pickle round trip.
    single = pickled_by_constructor(Single)(5)
    constructor, arguments = single.__reduce__()
    assert constructor(*arguments) == single


def test_a_field_the_constructor_does_not_take_is_refused() -> None:
    @dataclass(frozen=True)
    class Derived:
        value: int
        doubled: int = field(init=False, default=0)

    with pytest.raises(TypeError, match="constructor argument"):
        pickled_by_constructor(Derived)
