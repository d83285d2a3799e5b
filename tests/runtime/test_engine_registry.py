"""Which engines run: TTS_PROVIDER, TTS_ENGINE_PREFERENCE, files found locally, and stand-ins when one fails."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import AppFactory, make_settings
from tests.support.kokoro_model import voices_archive
from tts_server.runtime.runners.registry import build_registry


def _ids(data_dir: Path, **overrides: object) -> tuple[list[str], str, list[str]]:
    registry = build_registry(make_settings(data_dir, **overrides))
    return [runner.info.id for runner in registry], registry.default_id, registry.notes


def test_auto_runs_what_is_found_in_the_order_of_preference(data_dir: Path) -> None:
    """A plain install: Piper's voice comes with it, Kokoro and Dia are not downloaded."""
    ids, default, notes = _ids(
        data_dir,
        provider="auto",
        engine_preference="s1-mini,dia,kokoro,piper,espeak",
        kokoro_model=str(data_dir / "no-kokoro"),
        dia_model=str(data_dir / "no-dia"),
    )
    assert ids == ["piper", "espeak"] and default == "piper"
    assert any("Kokoro (int8) not found" in note and "hf download" in note for note in notes)
    assert any("no-dia" in note for note in notes)


def test_kokoro_found_locally_goes_ahead_of_piper(data_dir: Path) -> None:
    folder = data_dir / "kokoro"
    folder.mkdir()
    (folder / "kokoro-v1.0.int8.onnx").write_bytes(b"")  # found is enough to run it; loading would tell more
    shutil.copy(voices_archive(), folder / "voices-v1.0.bin")
    ids, default, _ = _ids(data_dir, provider="auto", engine_preference="kokoro,piper,espeak", kokoro_model=str(folder))
    assert ids == ["kokoro", "piper", "espeak"] and default == "kokoro"
    ids, default, _ = _ids(data_dir, provider="auto", engine_preference="piper,kokoro", kokoro_model=str(folder))
    assert ids == ["piper", "kokoro", "espeak"] and default == "piper"


def test_engines_left_out_of_the_preference_do_not_run(data_dir: Path) -> None:
    assert _ids(data_dir, provider="auto", engine_preference="espeak")[:2] == (["espeak"], "espeak")


@pytest.mark.parametrize("provider", ["piper", "kokoro"])
def test_a_named_provider_runs_with_espeak_beside_it(data_dir: Path, provider: str) -> None:
    ids, default, notes = _ids(data_dir, provider=provider, kokoro_model=str(data_dir / "nothing"))
    assert ids == [provider, "espeak"] and default == provider and notes == []


def test_unknown_engine_ids_are_refused(data_dir: Path) -> None:
    with pytest.raises(ValidationError, match="unknown engine ids"):
        make_settings(data_dir, engine_preference="piper,festival")


async def test_a_default_that_fails_to_load_hands_over_to_the_next(app_factory: AppFactory, data_dir: Path) -> None:
    folder = data_dir / "broken-kokoro"
    folder.mkdir()
    (folder / "kokoro-v1.0.int8.onnx").write_bytes(b"not an onnx graph")
    shutil.copy(voices_archive(), folder / "voices_ja.npz")
    settings = {"provider": "auto", "engine_preference": "kokoro,piper,espeak", "kokoro_model": str(folder)}
    async with app_factory(**settings, onnx_workers=1, workers=1) as client:
        health = (await client.get("/health")).json()
        spoken = await client.post("/v1/audio/speech", json={"input": "Hello there."})
        refused = await client.post("/v1/audio/speech", json={"input": "Hello there.", "model": "kokoro"})
    assert health["status"] == "degraded" and health["provider"] == "piper"
    kokoro = next(engine for engine in health["engines"] if engine["id"] == "kokoro")
    assert kokoro["state"] == "failed" and "onnxruntime could not load" in kokoro["detail"]
    assert spoken.status_code == 200 and spoken.headers["x-tts-engine"] == "piper"
    assert refused.status_code == 503 and refused.json()["error_code"] == "MODEL_NOT_LOADED"


async def test_while_the_default_loads_a_voice_only_a_ready_engine_has_is_spoken_by_it(data_dir: Path) -> None:
    from tts_server.errors import ModelNotLoaded
    from tts_server.runtime.runners.registry import ensure_ready
    from tts_server.runtime.voices import VoiceResolver

    settings = make_settings(data_dir, provider="auto", engine_preference="piper,espeak", workers=1)
    registry = build_registry(settings)
    piper, espeak = (next(r for r in registry if r.info.id == name) for name in ("piper", "espeak"))
    await espeak.start()  # piper is never started: it stays "loading"
    try:
        while espeak.state.value == "loading":
            await asyncio.sleep(0.02)
        resolver = VoiceResolver("default")
        runner, voice = await resolver.route("de", registry.candidates("tts-1"))
        assert runner is espeak and voice.builtin == "de"
        runner, _ = await resolver.route("alloy", registry.candidates(None))
        assert runner is piper  # the default has it: wait for the default
        with pytest.raises(ModelNotLoaded) as loading:
            ensure_ready(runner)
        assert loading.value.headers["Retry-After"]
    finally:
        await espeak.stop()
