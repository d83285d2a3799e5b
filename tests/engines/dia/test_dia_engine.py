"""How the engine reads a request: text normalisation and tags, seeds, voices."""

from __future__ import annotations

from tests.engines.dia.conftest import request
from tts_server.engines.base import VoiceSelection
from tts_server.engines.dia.engine import DiaEngine, DiaJob
from tts_server.engines.dia.voices import BUILTIN_SEEDS


def planned(engine: DiaEngine, **options: object) -> DiaJob:
    """The job as the engine planned it (once its voice's prompt exists), stopped before it decodes."""
    job = DiaJob(request(**options), lambda item: None)  # type: ignore[arg-type]
    engine.submit(job)
    while not job.segments and engine.step():
        pass
    engine.fail_all(RuntimeError("not decoding in this test"))
    return job


def test_text_is_normalised_and_tagged_with_the_voice_speaker(dia_engine: DiaEngine) -> None:
    voice = VoiceSelection("aria", builtin="aria", primary_speaker="S2")
    job = planned(dia_engine, text="I have 3 cats (laughs).", voice=voice)
    assert job.segments == ["[S2] I have three cats (laughs)."]


def test_seed_precedence_request_then_voice_then_builtin(dia_engine: DiaEngine) -> None:
    aria = VoiceSelection("aria", builtin="aria")
    assert planned(dia_engine, voice=aria, seed=None).seed == BUILTIN_SEEDS["aria"]
    assert planned(dia_engine, voice=VoiceSelection("aria", builtin="aria", seed=5), seed=None).seed == 5
    assert planned(dia_engine, voice=VoiceSelection("aria", builtin="aria", seed=5), seed=9).seed == 9


def test_builtin_voices_are_the_built_in_engines_names(dia_engine: DiaEngine) -> None:
    names = [voice.voice_id for voice in dia_engine.voices()]
    assert names[:7] == ["default", "aria", "atlas", "luna", "kai", "zara", "nova"]
    assert len(names) == 19 and dia_engine.has_voice("Cedar") and not dia_engine.has_voice("bob")
