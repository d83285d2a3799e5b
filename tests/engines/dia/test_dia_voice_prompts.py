"""Built-in voices that stay the same: a prompt made once per model (the fixed sentence, the voice's seed), kept
in the data dir, conditioning every request with the voice, across texts, requests and restarts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.engines.dia.conftest import CHUNK_FRAMES, PROMPT_FRAMES
from tests.engines.dia.reference import EngineDriver, Outcome
from tests.engines.dia.tiny_models import TinyDiaFolders, save_tiny_dia
from tts_server.engines.base import SamplingParams, SynthesisRequest, VoiceSelection
from tts_server.engines.dia.engine import DiaEngine
from tts_server.engines.dia.loading import DiaBundle, load_dia
from tts_server.engines.dia.voice_prompts import PROMPT_TEXT, model_fingerprint
from tts_server.engines.dia.voices import BUILTIN_SEEDS
from tts_server.store.dia_prompts import PromptFiles, StoredPrompt

DELAYS = [0, 8, 9, 10, 11, 12, 13, 14, 15]


def engine(bundle: DiaBundle, prompt_dir: Path | None) -> DiaEngine:
    return DiaEngine(
        bundle,
        max_batch=4,
        first_chunk_frames=CHUNK_FRAMES,
        chunk_frames=CHUNK_FRAMES,
        voice_prompt_dir=prompt_dir,
        voice_prompt_frames=PROMPT_FRAMES,
    )


def speak(text: str, voice: str, request_id: str, *, seed: int | None = 5) -> SynthesisRequest:
    return SynthesisRequest(
        text=text,
        voice=VoiceSelection(voice, builtin=voice),
        sampling=SamplingParams(max_new_tokens=20, seed=seed),
        request_id=request_id,
    )


def prompt_of(outcome: Outcome) -> np.ndarray:
    """The undelayed audio prompt [frames, channels] a request's grid was conditioned on."""
    grid = outcome.grid
    frames = grid.prompt_frames
    return np.stack([grid.tokens[1 + d : 1 + d + frames, c] for c, d in enumerate(DELAYS)], axis=1)


def prompt_requests(driver: EngineDriver) -> list[str]:
    return [key for key in driver.engine.stats.traces if key.startswith("voice-prompt-")]


def test_two_texts_with_one_voice_speak_from_one_stored_prompt(dia_bundle: DiaBundle, tmp_path: Path) -> None:
    run = EngineDriver(engine(dia_bundle, tmp_path))
    outcomes = run.run({0: [speak("The first text.", "aria", "one")], 40: [speak("Another text.", "aria", "two")]})
    folder = tmp_path / model_fingerprint(dia_bundle.model_path) / "aria"
    stored = PromptFiles(folder.parent).load("aria")
    assert stored is not None and stored.text == PROMPT_TEXT and stored.seed == BUILTIN_SEEDS["aria"]
    assert sorted(path.name for path in folder.iterdir()) == ["codes.npy", "prompt.json", "prompt.txt", "prompt.wav"]
    assert len(stored.codes) == PROMPT_FRAMES
    for name in ("one", "two"):
        np.testing.assert_array_equal(prompt_of(outcomes[name]), stored.codes)
        assert run.trace(name).prompt_frames == [PROMPT_FRAMES]
    assert prompt_requests(run) == ["voice-prompt-aria"] and run.engine.voice_prompts.generated == 1
    # the prompt is Dia speaking the fixed sentence with the voice's seed
    made = EngineDriver(engine(dia_bundle, None)).run({0: [_sentence_with_seed(BUILTIN_SEEDS["aria"])]})["made"]
    np.testing.assert_array_equal(made.grid.new_frames(0, made.grid.ready_frames).T, stored.codes)


def _sentence_with_seed(seed: int) -> SynthesisRequest:
    sampling = SamplingParams(max_new_tokens=PROMPT_FRAMES, seed=seed)
    return SynthesisRequest(text=PROMPT_TEXT, voice=VoiceSelection("plain"), sampling=sampling, request_id="made")


def test_concurrent_first_uses_make_the_prompt_once(dia_bundle: DiaBundle, tmp_path: Path) -> None:
    run = EngineDriver(engine(dia_bundle, tmp_path))
    outcomes = run.run({0: [speak("One.", "luna", "a"), speak("Two.", "luna", "b")], 1: [speak("Three.", "luna", "c")]})
    assert prompt_requests(run) == ["voice-prompt-luna"] and run.engine.voice_prompts.generated == 1
    prompt_done = run.trace("voice-prompt-luna").finished_step or 0
    for name in "abc":
        assert run.trace(name).joined_steps[0] >= prompt_done  # waited for it, then spoke from it
        np.testing.assert_array_equal(prompt_of(outcomes[name]), prompt_of(outcomes["a"]))
    assert [p.name for p in (tmp_path / model_fingerprint(dia_bundle.model_path)).iterdir()] == ["luna"]


def test_a_restart_reuses_the_stored_prompt(dia_bundle: DiaBundle, tmp_path: Path) -> None:
    first = EngineDriver(engine(dia_bundle, tmp_path)).run({0: [speak("Same words.", "kai", "x")]})["x"]
    again = EngineDriver(engine(dia_bundle, tmp_path))  # a new process would build a new engine like this
    second = again.run({0: [speak("Same words.", "kai", "x")]})["x"]
    assert prompt_requests(again) == [] and again.engine.voice_prompts.generated == 0
    np.testing.assert_array_equal(second.codes, first.codes)
    np.testing.assert_array_equal(second.audio, first.audio)


def test_another_model_makes_its_own_prompts(dia_bundle: DiaBundle, tmp_path: Path) -> None:
    other_folders = save_tiny_dia(tmp_path / "other-model", seed=1)
    other = load_dia(str(other_folders.model), str(other_folders.codec), device="cpu")
    prompts = tmp_path / "prompts"
    EngineDriver(engine(dia_bundle, prompts)).run({0: [speak("Hi.", "zara", "x")]})
    run = EngineDriver(engine(other, prompts))
    run.run({0: [speak("Hi.", "zara", "x")]})
    assert run.engine.voice_prompts.generated == 1
    fingerprints = {model_fingerprint(dia_bundle.model_path), model_fingerprint(other.model_path)}
    assert {path.name for path in prompts.iterdir()} == fingerprints and len(fingerprints) == 2


def test_own_seeds_and_references_have_no_stored_prompt(dia_bundle: DiaBundle, tmp_path: Path) -> None:
    own_seed = SynthesisRequest(
        text="Mine.", voice=VoiceSelection("nova", builtin="nova", seed=77), sampling=SamplingParams(max_new_tokens=8)
    )
    run = EngineDriver(engine(dia_bundle, tmp_path))
    run.run({0: [own_seed]})
    assert prompt_requests(run) == [] and not tmp_path.joinpath(model_fingerprint(dia_bundle.model_path)).exists()


def test_fingerprint_follows_the_weights_not_the_folder(tiny_dia: TinyDiaFolders, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_dia.model, tmp_path / "copy")
    assert model_fingerprint(copy) == model_fingerprint(tiny_dia.model)
    other = save_tiny_dia(tmp_path / "other", seed=1).model
    assert model_fingerprint(other) != model_fingerprint(tiny_dia.model)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("1026", "1026 "))
    assert model_fingerprint(copy) != model_fingerprint(tiny_dia.model)


def test_prompt_files_are_whole_or_absent(tmp_path: Path) -> None:
    files = PromptFiles(tmp_path)
    prompt = StoredPrompt(np.arange(18).reshape(2, 9), "Some words.", 3)
    audio = np.zeros(1024, dtype=np.float32)
    (tmp_path / ".aria.0123456789abcdef.tmp").mkdir()  # a crash while writing
    files.sweep()
    assert list(tmp_path.iterdir()) == []
    assert files.save("aria", prompt, audio, 44_100)
    later = StoredPrompt(np.ones((3, 9), dtype=np.int64), "Other words.", 4)
    assert not files.save("aria", later, audio, 44_100)  # the first one stays: requests spoke from it
    kept = files.load("aria")
    assert kept is not None and kept.text == "Some words." and np.array_equal(kept.codes, prompt.codes)
    (tmp_path / "aria" / "codes.npy").write_bytes(b"garbage")  # broken by hand
    assert files.load("aria") is None
    assert files.save("aria", later, audio, 44_100)
    assert [p.name for p in tmp_path.iterdir()] == ["aria"]
    reloaded = files.load("aria")
    assert reloaded is not None and reloaded.text == "Other words."


@pytest.mark.parametrize("seed", [None, 5])
def test_the_voice_stays_the_same_whatever_the_request_seed(
    dia_bundle: DiaBundle, tmp_path: Path, seed: int | None
) -> None:
    """The request's seed varies the new audio only; the voice's prompt is the same."""
    run = EngineDriver(engine(dia_bundle, tmp_path))
    outcomes = run.run({0: [speak("Words.", "atlas", "p", seed=seed)], 30: [speak("Words.", "atlas", "q", seed=11)]})
    np.testing.assert_array_equal(prompt_of(outcomes["p"]), prompt_of(outcomes["q"]))


def test_a_prompt_that_cannot_be_kept_leaves_the_request_unconditioned(
    dia_bundle: DiaBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("codec exploded")

    monkeypatch.setattr("tts_server.engines.dia.engine.decode_codes", broken)
    run = EngineDriver(engine(dia_bundle, tmp_path))
    outcome = run.run({0: [speak("Still spoken.", "echo", "x")]})["x"]
    assert len(outcome.audio) == 20 * 512 and run.trace("x").prompt_frames == [0]
    assert run.engine.voice_prompts.get("echo") is None and run.engine.voice_prompts.waiting == 0
    assert not (tmp_path / model_fingerprint(dia_bundle.model_path) / "echo").exists()
