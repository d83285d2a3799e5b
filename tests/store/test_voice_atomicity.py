"""Crashes and races: whatever happens mid-write, a voice is the old one or the new one, complete."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.store.conftest import OpenStore, query, sha256, snapshot, voice_wav
from tts_server.errors import Conflict
from tts_server.store.database import Database
from tts_server.store.voice_swaps import VoiceSwaps
from tts_server.store.voices import VoiceLibrary


class SimulatedCrash(BaseException):
    """Raised from inside a write, like a kill at that instant (BaseException: nothing catches it)."""


OLD = (voice_wav(f0=120), "old words")
NEW = (voice_wav(f0=260, seconds=1.5), "new words")


def assert_complete(
    data_dir: Path, url: str | None, voice_id: str, expected: Sequence[tuple[bytes, str | None]]
) -> int:
    """The row, the WAV and the transcript file agree, and are one of `expected`; returns which."""
    audio_dir = data_dir / "audio_prompts"
    rows = query(
        data_dir,
        url,
        "SELECT content_hash, source_hash, transcript, file_size FROM reference_voices WHERE lower(voice_id) = :id",
        id=voice_id.lower(),
    )
    assert query(data_dir, url, "SELECT COUNT(*) FROM reference_voice_swaps") == [(0,)]
    assert len(rows) == 1
    content_hash, source_hash, transcript, file_size = rows[0]
    stored = (audio_dir / f"{voice_id}.wav").read_bytes()
    assert sha256(stored) == content_hash
    assert len(stored) == file_size
    txt = audio_dir / f"{voice_id}.txt"
    assert (txt.read_text(encoding="utf-8").strip() if txt.exists() else None) == transcript
    matches = [i for i, (upload, text) in enumerate(expected) if (sha256(upload), text) == (source_hash, transcript)]
    assert len(matches) == 1, "the voice is a mix of two writes"
    assert [p.name for p in audio_dir.iterdir() if p.name.startswith(".")] == []
    return matches[0]


def fail_on_call(number: int, real: Callable[..., Any], counter: list[int]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        if counter[0] == number:
            raise SimulatedCrash(f"crash at operation {number}")
        return real(*args, **kwargs)

    return wrapper


def inject(monkeypatch: pytest.MonkeyPatch, db: Database, number: int) -> list[int]:
    """Fail the `number`-th file rename, hard link, marker or database commit from now on."""
    counter = [0]
    monkeypatch.setattr(os, "replace", fail_on_call(number, os.replace, counter))
    monkeypatch.setattr(os, "link", fail_on_call(number, os.link, counter))
    monkeypatch.setattr(Path, "touch", fail_on_call(number, Path.touch, counter))
    monkeypatch.setattr(db, "_commit", fail_on_call(number, db._commit, counter))
    return counter


@pytest.mark.parametrize("operation", ["add", "delete", "set_transcript", "add_new"])
async def test_a_crash_at_any_step_leaves_the_old_or_the_new_voice(
    open_store: OpenStore, data_dir: Path, monkeypatch: pytest.MonkeyPatch, operation: str, db_url: str | None
) -> None:
    """Crash at the 1st, 2nd, ... step of a write, with no in-process undo (as after a kill), restart,
    and find a complete voice each time, until the write gets through."""
    outcomes: set[int] = set()
    for step in range(1, 50):
        db, library, _ = open_store()
        if operation != "add_new":
            await library.add("v", OLD[0], transcript=OLD[1], overwrite=True)
        elif await library.get("v"):
            await library.delete("v")
        with monkeypatch.context() as patch:
            patch.setattr(VoiceSwaps, "_undo", lambda *args: False)  # the process died: nothing runs
            counter = inject(patch, db, step)
            try:
                await _write(library, operation)
                finished = True
            except SimulatedCrash:
                finished = False
            assert counter[0] >= min(step, 1)
        # The in-memory id index may over-report, never miss a stored voice.
        assert library.may_exist("v") or await library.get("v") is None
        db.close()

        _, restarted, _ = open_store()
        voice = await restarted.get("v")
        if operation == "delete":
            if voice is not None:
                outcomes.add(assert_complete(data_dir, db_url, "v", [OLD, NEW]))
            else:
                outcomes.add(1)
                assert [p.name for p in (data_dir / "audio_prompts").iterdir()] == []
        elif operation == "add_new" and voice is None:
            outcomes.add(0)
            assert [p.name for p in (data_dir / "audio_prompts").iterdir()] == []
        else:
            outcomes.add(
                assert_complete(
                    data_dir, db_url, "v", [OLD, NEW if operation != "set_transcript" else (OLD[0], NEW[1])]
                )
            )
        if finished:
            break
    else:
        pytest.fail("the write never got through")
    assert outcomes == {0, 1}, "both the old and the new voice were seen across crash points"


async def _write(library: VoiceLibrary, operation: str) -> None:
    if operation in ("add", "add_new"):
        await library.add("v", NEW[0], transcript=NEW[1], overwrite=True)
    elif operation == "delete":
        await library.delete("v")
    else:
        await library.set_transcript("v", NEW[1])


@pytest.mark.parametrize("target", ["replace", "commit"])
async def test_a_failed_write_is_undone_at_once(
    store: tuple[Database, VoiceLibrary, object],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    db_url: str | None,
) -> None:
    """A rename or the final commit raising: the running server puts the old voice back itself."""
    db, library, _ = store
    old = (await library.add("v", OLD[0], transcript=OLD[1])).voice
    before = snapshot(data_dir, db_url)
    counter = [0]
    if target == "replace":
        real_replace = os.replace

        def failing_replace(src: Any, dst: Any) -> None:
            if str(src).endswith(".wav.new"):
                raise OSError(28, "No space left on device")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", failing_replace)
    else:
        # Commits: settle (read), record the swap, then the row: fail that third one.
        monkeypatch.setattr(db, "_commit", fail_on_call(3, db._commit, counter))
    with pytest.raises((OSError, SimulatedCrash)):
        await library.add("v", NEW[0], transcript=NEW[1], overwrite=True)
    monkeypatch.undo()

    assert snapshot(data_dir, db_url) == before
    assert await library.get("v") == old
    assert_complete(data_dir, db_url, "v", [OLD])
    assert (await library.add("v", NEW[0], transcript=NEW[1], overwrite=True)).replaced


async def test_an_undo_that_fails_too_is_finished_before_the_voice_is_used(
    store: tuple[Database, VoiceLibrary, object], data_dir: Path, monkeypatch: pytest.MonkeyPatch, db_url: str | None
) -> None:
    db, library, _ = store
    old = (await library.add("v", OLD[0], transcript=OLD[1])).voice
    with monkeypatch.context() as patch:
        patch.setattr(db, "_commit", fail_on_call(3, db._commit, [0]))
        patch.setattr(VoiceSwaps, "_undo", lambda *args: False)
        with pytest.raises(SimulatedCrash):
            await library.add("v", NEW[0], transcript=NEW[1], overwrite=True)
    reference = await library.reference_audio("v")  # settles the interrupted swap first
    assert sha256(reference.audio_path.read_bytes()) == old.content_hash
    assert_complete(data_dir, db_url, "v", [OLD])


async def test_concurrent_adds_of_one_id_end_with_one_complete_voice(
    library: VoiceLibrary, data_dir: Path, db_url: str | None
) -> None:
    uploads = [(voice_wav(f0=100 + 20 * i, seconds=1 + i / 10), f"take {i}") for i in range(8)]
    for _ in range(3):
        results = await asyncio.gather(
            *(library.add("race", audio, transcript=text, overwrite=True) for audio, text in uploads)
        )
        assert sum(not r.replaced for r in results) <= 1
        winner = assert_complete(data_dir, db_url, "race", uploads)
        assert (await library.get("race")) == next(r.voice for r in results if r.voice.transcript == f"take {winner}")


async def test_concurrent_creates_without_overwrite_let_exactly_one_win(
    library: VoiceLibrary, data_dir: Path, db_url: str | None
) -> None:
    uploads = [(voice_wav(f0=100 + 30 * i), f"take {i}") for i in range(6)]
    results = await asyncio.gather(
        *(library.add("Once", audio, transcript=text) for audio, text in uploads), return_exceptions=True
    )
    assert sum(isinstance(r, Conflict) for r in results) == len(uploads) - 1
    assert_complete(data_dir, db_url, "Once", uploads)


async def test_a_request_cancelled_mid_write_leaves_a_complete_voice(
    library: VoiceLibrary, data_dir: Path, monkeypatch: pytest.MonkeyPatch, db_url: str | None
) -> None:
    """The client goes away while its upload is being written: the worker thread finishes the write
    (holding the voice's lock), and the result is complete."""
    started, release = threading.Event(), threading.Event()
    normalise = library._normalise

    def slow_normalise(audio: bytes) -> tuple[bytes, int]:
        started.set()
        release.wait(10)
        return normalise(audio)

    monkeypatch.setattr(library, "_normalise", slow_normalise)
    task = asyncio.create_task(library.add("cancelled", OLD[0], transcript=OLD[1]))
    assert await asyncio.to_thread(started.wait, 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    for _ in range(500):
        if await library.get("cancelled") is not None:
            break
        await asyncio.sleep(0.01)
    # The row is committed; reference_audio then waits for the voice's lock, which the worker thread
    # holds until its clean-up is done too.
    reference = await library.reference_audio("cancelled")
    assert reference.transcript == OLD[1]
    assert_complete(data_dir, db_url, "cancelled", [OLD])
