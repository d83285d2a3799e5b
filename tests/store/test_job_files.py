"""Temp files of job results on a shared outputs/: only garbage is swept, never a running job's file."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tts_server.store.job_files import STALE_PART_SECONDS, ResultFiles
from tts_server.store.jobs import new_job_id


def part(directory: Path, token: str, age: float) -> Path:
    path = directory / f".{new_job_id()}.{token}.wav.part"
    path.write_bytes(b"RIFF")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_stale_parts_of_no_running_job_go_and_the_rest_stay(tmp_path: Path) -> None:
    files = ResultFiles(tmp_path)
    files.prepare()
    running_old = part(tmp_path, "a" * 32, STALE_PART_SECONDS * 2)  # a long job, still leased
    dead_old = part(tmp_path, "b" * 32, STALE_PART_SECONDS * 2)  # its replica died
    fresh_unknown = part(tmp_path, "c" * 32, 0)  # just claimed elsewhere, its lease not read yet
    assert files.remove_stale_parts({"a" * 32}) == 1
    assert running_old.exists() and not dead_old.exists() and fresh_unknown.exists()
    assert files.remove_stale_parts(None) == 2  # the only server, at its start: everything is garbage
    assert list(tmp_path.iterdir()) == []


def test_two_writers_of_one_job_never_share_a_temp_file(tmp_path: Path) -> None:
    files = ResultFiles(tmp_path)
    files.prepare()
    job_id = new_job_id()
    zombie, owner = files.writer(job_id, "a" * 32, "wav"), files.writer(job_id, "b" * 32, "wav")
    zombie.write(b"zombie")
    owner.write(b"owner")
    owner.finish()
    assert owner.publish() == f"{job_id}.wav" and owner.publish() == f"{job_id}.wav"  # a retry finds it there
    zombie.discard()
    assert (tmp_path / f"{job_id}.wav").read_bytes() == b"owner" and [p.name for p in tmp_path.iterdir()] == [
        f"{job_id}.wav"
    ]
