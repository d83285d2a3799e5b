"""Choosing and loading S1-mini: missing weights say what and how to get them, `model: "s1-mini"` never falls
back to another engine, and auto mode takes every engine found in preference order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import make_settings, running_app
from tests.engines.s1.conftest import TINY
from tests.s1_http.conftest import S1AppFactory
from tts_server.engines.s1.loading import s1_weights_available
from tts_server.runtime.runners.registry import build_registry


async def test_missing_folder_fails_loading_with_how_to_get_the_weights(
    s1_app_factory: S1AppFactory, tmp_path: Path
) -> None:
    async with s1_app_factory(s1_model=str(tmp_path / "nowhere")) as s1:
        health = await s1.client.get("/health")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "unhealthy" and body["provider"] == "s1_mini"
        detail = next(engine["detail"] for engine in body["engines"] if engine["id"] == "s1-mini")
        assert "nowhere" in detail and "hf download fishaudio/openaudio-s1-mini" in detail
        speech = await s1.client.post("/v1/audio/speech", json={"input": "Hello.", "model": "s1-mini"})
        assert speech.status_code == 503 and speech.json()["error_code"] == "MODEL_NOT_LOADED"
        assert "hf download" in speech.json()["detail"] and "espeak" not in speech.json()["detail"]


async def test_folder_without_the_codec_names_what_is_missing(s1_app_factory: S1AppFactory, tmp_path: Path) -> None:
    folder = tmp_path / "partial"
    shutil.copytree(TINY, folder)
    (folder / "codec.pth").unlink()
    async with s1_app_factory(s1_model=str(folder)) as s1:
        body = (await s1.client.get("/health")).json()
    detail = next(engine["detail"] for engine in body["engines"] if engine["id"] == "s1-mini")
    assert "lacks codec.pth" in detail


async def test_auto_without_weights_serves_espeak_and_says_why_not_s1(data_dir: Path) -> None:
    settings = make_settings(data_dir, provider="auto", s1_model=str(data_dir / "no-s1-here"),
                             dia_model=str(data_dir / "no-dia-here"))  # fmt: skip
    async with running_app(settings) as client:
        body = (await client.get("/health")).json()
        speech = await client.post("/v1/audio/speech", json={"input": "Hello.", "model": "s1-mini"})
        default = await client.post("/v1/audio/speech", json={"input": "Hello."})
    assert body["provider"] == "espeak" and any("no-s1-here" in note for note in body["notes"])
    assert speech.status_code == 503 and speech.json()["error_code"] == "MODEL_NOT_LOADED"
    assert "not loaded on this server: S1-mini weights not found locally" in speech.json()["detail"]
    assert default.status_code == 200 and default.headers["x-tts-engine"] == "espeak"


def test_s1_mini_is_no_longer_an_alias_of_the_default(data_dir: Path) -> None:
    registry = build_registry(make_settings(data_dir, provider="espeak"))
    assert "s1-mini" not in registry.aliases()
    assert {"tts-1", "default"} <= set(registry.aliases())


def test_auto_finds_a_local_folder_and_prefers_s1(data_dir: Path) -> None:
    settings = make_settings(data_dir, provider="auto", s1_model=str(TINY), dia_model=str(data_dir / "no-dia"))
    assert s1_weights_available(settings)
    registry = build_registry(settings)
    assert [runner.info.id for runner in registry] == ["s1-mini", "espeak"]
    assert registry.default_id == "s1-mini" and registry.notes and "no-dia" in registry.notes[0]
    espeak_first = build_registry(settings.model_copy(update={"engine_preference": "espeak,s1-mini"}))
    assert espeak_first.default_id == "espeak"


async def test_auto_falls_back_in_preference_order_when_s1_fails_to_load(data_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(TINY, broken)
    (broken / "model.pth").write_bytes(b"not a checkpoint")  # found, but does not load
    settings = make_settings(data_dir, provider="auto", s1_model=str(broken), dia_model=str(data_dir / "no-dia"))
    async with running_app(settings) as client:
        body = (await client.get("/health")).json()
        speech = await client.post("/v1/audio/speech", json={"input": "Hello."})
        named = await client.post("/v1/audio/speech", json={"input": "Hello.", "model": "s1-mini"})
    assert body["provider"] == "espeak" and body["status"] == "degraded"
    assert speech.status_code == 200 and speech.headers["x-tts-engine"] == "espeak"
    assert named.status_code == 503 and "model.pth could not be read" in named.json()["detail"]


@pytest.mark.parametrize("provider", ["espeak", "dia"])
def test_a_named_provider_leaves_s1_out_and_says_so(data_dir: Path, provider: str) -> None:
    registry = build_registry(make_settings(data_dir, provider=provider, s1_model=str(TINY)))
    assert "s1-mini" not in [runner.info.id for runner in registry]
    with pytest.raises(Exception, match=f"TTS_PROVIDER={provider}"):
        registry.get("s1-mini")
