"""The S1-mini engine on the tiny checkpoint: streaming, voices, chunking, stopping, cancelling, running out of
memory. Random weights rarely say <|im_end|>, so each chunk runs to its frame cap: lengths are exact."""

from __future__ import annotations

import dataclasses
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tts_server.audio.decode import decode_audio
from tts_server.engines.base import (
    AudioChunk,
    CancelToken,
    ReferenceAudio,
    SamplingParams,
    SynthesisRequest,
    VoiceSelection,
)
from tts_server.engines.s1.codec import S1StreamDecoder
from tts_server.engines.s1.engine import S1Engine
from tts_server.engines.s1.generation import BatchGenerator
from tts_server.engines.s1.jobs import S1Job
from tts_server.engines.s1.loading import S1Bundle
from tts_server.engines.s1.prompt import VoicePrompt
from tts_server.engines.s1.sampling import SamplingSettings
from tts_server.engines.s1.streaming import RowAudio
from tts_server.engines.s1.voices import VOICE_SAMPLE_TEXT, model_fingerprint
from tts_server.errors import GpuOutOfMemory, InvalidRequest

FRAMES = 12  # frame cap per chunk in these tests
HOP = 2048


def engine_for(bundle: S1Bundle, **options: Any) -> S1Engine:
    values: dict[str, Any] = {"max_new_tokens": FRAMES, "first_window": 4, "window": 4, "voice_sample_frames": 8}
    return S1Engine(bundle, **{**values, **options})


def request(text: str = "Hello there, this is a test.", *, seed: int = 5, voice: VoiceSelection | None = None,
            chunk: int | None = None, **sampling: Any) -> SynthesisRequest:  # fmt: skip
    return SynthesisRequest(
        text=text,
        voice=voice or VoiceSelection("default", builtin="default"),
        sampling=SamplingParams(seed=seed, **sampling),
        max_chunk_chars=chunk,
        request_id=f"req-{seed}-{len(text)}",
    )


def speak(engine: S1Engine, req: SynthesisRequest) -> list[AudioChunk]:
    return list(engine.synthesize(req, CancelToken()))


def joined(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([chunk.samples for chunk in chunks])


class PromptSpy:
    """Records the prompts rows start from; the real generator still runs them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, generator: BatchGenerator[Any]) -> None:
        self.prompts: list[np.ndarray] = []
        original = generator.add

        def add(owner: Any, prompt: np.ndarray, *args: Any) -> np.ndarray:
            self.prompts.append(prompt)
            return original(owner, prompt, *args)

        monkeypatch.setattr(generator, "add", add)


def test_streams_in_windows_and_lasts_frames_times_hop(s1_bundle: S1Bundle) -> None:
    engine = engine_for(s1_bundle)
    chunks = speak(engine, request())
    assert len(chunks) >= 3  # 12 frames in windows of 4
    assert all(chunk.sample_rate == 44_100 for chunk in chunks)
    assert len(joined(chunks)) == FRAMES * HOP
    trace = engine.stats.traces["req-5-28"]
    assert trace.first_audio_step is not None and trace.finished_step is not None
    assert trace.first_audio_step < trace.finished_step


def test_streamed_audio_matches_a_whole_clip_decode(s1_bundle: S1Bundle) -> None:
    """The codec is causal: decoding frames in windows gives the whole-clip audio (measured, not just close)."""
    generator: BatchGenerator[str] = BatchGenerator(s1_bundle.model, device=torch.device("cpu"), dtype=torch.float32)
    prompt = np.zeros((11, 20), dtype=np.int64)
    prompt[0] = np.arange(20) + 40
    frames = [generator.add("row", prompt, SamplingSettings(0.7, 0.8, 1.1), 9)]
    frames += [generator.step()[0] for _ in range(23)]
    codes = np.stack(frames, axis=1)[1:]
    stream = RowAudio(s1_bundle.codec, first_window=3, window=7)
    pieces = []
    for column in codes.T:
        stream.add(column)
        pieces.append(stream.pull())
    pieces.append(stream.pull(final=True))
    streamed = np.concatenate(pieces)
    whole = s1_bundle.codec.decode(torch.from_numpy(codes)[None])[0, 0].numpy()
    assert len(streamed) == len(whole) == 24 * HOP
    difference = float(np.abs(streamed - whole).max())
    assert difference < 1e-4 * max(1.0, float(np.abs(whole).max())), difference


def test_same_seed_same_audio_other_seed_other_audio(s1_bundle: S1Bundle) -> None:
    engine = engine_for(s1_bundle)
    first, again, other = (joined(speak(engine, request(seed=seed))) for seed in (11, 11, 12))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_named_voice_sample_is_made_once_kept_and_reread_after_a_restart(
    s1_bundle: S1Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(s1_bundle, voice_dir=tmp_path)
    spy = PromptSpy(monkeypatch, engine.generator)
    first = joined(speak(engine, request(seed=1)))
    second = joined(speak(engine, request("Another text entirely.", seed=2)))
    kept_in = tmp_path / model_fingerprint(s1_bundle.path)  # a folder per checkpoint
    assert engine.stats.voice_samples == 1 and (kept_in / "seed-1234.npz").is_file()
    sample_prompt, speech_prompt, other_prompt = spy.prompts
    assert sample_prompt.shape[1] < speech_prompt.shape[1]  # the sample row speaks the sample text, no voice
    kept = engine.kept_voices.get(1234)
    assert kept is not None and kept.text == VOICE_SAMPLE_TEXT and kept.codes.shape == (10, 8)
    for prompt in (speech_prompt, other_prompt):  # both requests continue the kept sample
        semantic = prompt[0] >= s1_bundle.tokenizer.semantic_begin_id
        np.testing.assert_array_equal(prompt[1:, semantic], kept.codes)
    restarted = engine_for(s1_bundle, voice_dir=tmp_path)
    np.testing.assert_array_equal(joined(speak(restarted, request(seed=1))), first)
    assert restarted.stats.voice_samples == 0 and len(second) == FRAMES * HOP


def test_another_checkpoint_makes_its_own_named_voice_samples(s1_bundle: S1Bundle, tmp_path: Path) -> None:
    """A kept sample is the checkpoint's own speech in its codec's codes: a fine-tune must not continue another's."""
    joined(speak(engine_for(s1_bundle, voice_dir=tmp_path / "voices"), request(seed=1)))
    fine_tune = tmp_path / "fine-tune"
    shutil.copytree(s1_bundle.path, fine_tune)
    state = torch.load(fine_tune / "model.pth", map_location="cpu", weights_only=True)
    state["norm.weight"] += 0.01
    torch.save(state, fine_tune / "model.pth")
    assert model_fingerprint(fine_tune) != model_fingerprint(s1_bundle.path)
    other = engine_for(dataclasses.replace(s1_bundle, path=fine_tune), voice_dir=tmp_path / "voices")
    assert other.kept_voices.get(1234) is None  # the first checkpoint's sample is not found
    assert model_fingerprint(shutil.copytree(s1_bundle.path, tmp_path / "copy")) == model_fingerprint(s1_bundle.path)


def test_voices_sound_different_and_a_mapping_seed_is_its_own_voice(s1_bundle: S1Bundle) -> None:
    engine = engine_for(s1_bundle)
    aria = joined(speak(engine, request(voice=VoiceSelection("aria", builtin="aria"))))
    kai = joined(speak(engine, request(voice=VoiceSelection("kai", builtin="kai"))))
    mapped = joined(speak(engine, request(voice=VoiceSelection("narrator", builtin="default", seed=77))))
    assert not np.array_equal(aria, kai) and not np.array_equal(aria, mapped)
    assert engine.kept_voices.get(77) is not None and engine.stats.voice_samples == 3


def write_wav(path: Path, seconds: float, rate: int = 44_100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def reference(tmp_path: Path, transcript: str = "This is what the reference says.") -> ReferenceAudio:
    audio = write_wav(tmp_path / "ref.wav", 0.5)
    return ReferenceAudio("anna", audio, transcript, content_hash="hash-anna", duration=0.5, sample_rate=44_100)


def test_reference_voice_is_encoded_once_and_conditions_every_chunk(
    s1_bundle: S1Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(s1_bundle)
    spy = PromptSpy(monkeypatch, engine.generator)
    voice = VoiceSelection("anna", reference=reference(tmp_path))
    text = "First sentence is here. Second sentence follows it. Third one ends the text."
    chunks = speak(engine, request(text, voice=voice, chunk=30))
    speak(engine, request("Once more.", voice=voice))
    assert engine.references.encodings == 1
    samples = decode_audio(voice.reference.audio_path.read_bytes(), target_rate=44_100).samples  # type: ignore[union-attr]
    expected = s1_bundle.codec.encode(torch.as_tensor(np.asarray(samples, dtype=np.float32))[None, None])[0].numpy()
    assert expected.shape == (10, 11)  # 0.5 s at 2,048 samples a frame, the last one padded
    assert len(spy.prompts) == 4  # three chunks, then the second request
    for prompt in spy.prompts:
        semantic = prompt[0] >= s1_bundle.tokenizer.semantic_begin_id
        assert semantic.sum() == expected.shape[1]
        np.testing.assert_array_equal(prompt[1:, semantic], expected)
    assert len(joined(chunks)) == 3 * FRAMES * HOP - 2 * round(44_100 * 0.04)  # two crossfaded seams


def test_reference_without_transcript_is_refused(s1_bundle: S1Bundle, tmp_path: Path) -> None:
    voice = VoiceSelection("anna", reference=reference(tmp_path, transcript="  "))
    with pytest.raises(InvalidRequest, match="no transcript"):
        speak(engine_for(s1_bundle), request(voice=voice))


def test_im_end_ends_a_chunk_early(s1_bundle: S1Bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row whose model says <|im_end|> after three frames gives three frames of audio."""
    engine = engine_for(s1_bundle)
    step = engine.generator.step
    calls = {"n": 0}

    def ending_step() -> np.ndarray:
        frames = step()
        calls["n"] += 1
        if calls["n"] == 2:
            frames[:, 0] = s1_bundle.tokenizer.im_end_id
        return frames

    monkeypatch.setattr(engine.generator, "step", ending_step)
    engine.kept_voices.keep(1234, _silent_voice())
    assert len(joined(speak(engine, request()))) == 2 * HOP  # the prefill frame and one step; the third said stop


def _silent_voice() -> VoicePrompt:
    """A kept default voice, so a test's requests need no sample row."""
    return VoicePrompt("Hello.", np.zeros((10, 4), dtype=np.int64))


def test_cancelled_job_leaves_the_batch_at_the_next_step(s1_bundle: S1Bundle) -> None:
    engine = engine_for(s1_bundle, max_new_tokens=200)
    engine.kept_voices.keep(1234, _silent_voice())
    items: list[Any] = []
    job = S1Job(request(), items.append)
    engine.submit(job)
    for _ in range(3):
        engine.step()
    assert len(engine.generator) == 1
    job.cancel.cancel()
    engine.step()
    assert len(engine.generator) == 0 and items[-1] is None and engine.active_jobs == 0


def test_out_of_memory_fails_the_newest_row_and_the_batch_goes_on(
    s1_bundle: S1Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(s1_bundle)
    engine.kept_voices.keep(1234, _silent_voice())
    outcomes: dict[str, list[Any]] = {"old": [], "new": []}
    old = S1Job(request(seed=1), outcomes["old"].append)
    engine.submit(old)
    engine.step()
    new = S1Job(request(seed=2), outcomes["new"].append)
    engine.submit(new)
    step = engine.generator.step
    raised = iter([True])

    def oom_once() -> np.ndarray:
        if next(raised, False):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return step()

    monkeypatch.setattr(engine.generator, "step", oom_once)
    while engine.step():
        pass
    assert isinstance(outcomes["new"][-1], GpuOutOfMemory)
    assert outcomes["old"][-1] is None
    assert sum(len(item.samples) for item in outcomes["old"][:-1]) == FRAMES * HOP


def test_batched_requests_each_get_their_own_length_and_their_solo_audio(
    s1_bundle: S1Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes are the solo run's exactly (generation tests); the audio too, to the codec's rounding where rows
    that reach a window together decode in one batch (~1e-7)."""
    solo_engine = engine_for(s1_bundle)
    solo_engine.kept_voices.keep(1234, _silent_voice())
    lengths = {21: 5, 22: 9, 23: 12}
    solo = {seed: joined(speak(solo_engine, request(seed=seed, max_new_tokens=n))) for seed, n in lengths.items()}
    engine = engine_for(s1_bundle)
    engine.kept_voices.keep(1234, _silent_voice())
    batches = codec_batches(monkeypatch)
    got: dict[int, list[Any]] = {seed: [] for seed in lengths}
    for offset, (seed, n) in enumerate(lengths.items()):
        engine.submit(S1Job(request(seed=seed, max_new_tokens=n), got[seed].append))
        if offset == 0:
            engine.step()  # the first request runs a step ahead; the other two join together, mid-flight
    while engine.step():
        pass
    assert engine.stats.rows_joined_mid_flight == 2 and max(engine.stats.batch_sizes) == 3
    assert 2 in batches  # the two that joined together decoded their windows in one codec batch
    for seed, n in lengths.items():
        assert got[seed][-1] is None
        audio = joined(got[seed][:-1])
        assert len(audio) == n * HOP
        np.testing.assert_allclose(audio, solo[seed], rtol=0, atol=1e-5)


def codec_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records how many streams each batched codec decode served; the real decode still runs."""
    sizes: list[int] = []
    original = S1StreamDecoder.push_many

    def push_many(decoders: Any, codes: Any) -> Any:
        sizes.append(len(decoders))
        return original(decoders, codes)

    monkeypatch.setattr(S1StreamDecoder, "push_many", staticmethod(push_many))
    return sizes


def test_engine_info_and_voices(s1_bundle: S1Bundle) -> None:
    engine = engine_for(s1_bundle)
    assert engine.info.id == "s1-mini" and engine.info.capabilities.cloning.value == "full"
    names = [voice.voice_id for voice in engine.voices()]
    assert names[0] == "default" and "alloy" in names and engine.has_voice("Aria")
    assert "kept as its prompt" in engine.voices()[0].description
    assert dataclasses.asdict(engine.stats)["steps"] == 0
