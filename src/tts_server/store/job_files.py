"""Result files of async jobs under outputs/: written to a temp file, then renamed into place.

A result is `<job_id>.<ext>`; while it is being written it is `.<job_id>.<token>.<ext>.part`, where the
token is the job's lease token: two replicas that both believe they run a job (one whose lease ran
out) never write the same temp file, and only the lease holder moves its file into place (inside the
transaction that completes the job, see JobStore.finish). Nothing serves a temp file; those left by a
crash are removed. Blocking: call from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import time
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from tts_server.store.jobs import JOB_ID_PATTERN

OUTPUTS_DIR = "outputs"

_RESULT_NAME = re.compile(JOB_ID_PATTERN + r"\.[a-z0-9]{1,5}")
_PART_SUFFIX = ".part"
_PART_NAME = re.compile(r"\.(" + JOB_ID_PATTERN + r")\.(?:([0-9a-f]{32})\.)?[a-z0-9]{1,5}\.part")
# On a shared data dir, a temp file written to this recently may belong to a job running elsewhere.
STALE_PART_SECONDS = 600.0
_STREAMING_SIZE = 0xFFFFFFFF
_WAV_HEADER = 44


def is_result_name(name: str) -> bool:
    return _RESULT_NAME.fullmatch(name) is not None


class ResultFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        """Create outputs/ (and nothing else: see `remove_stale_parts`)."""
        self.directory.mkdir(parents=True, exist_ok=True)

    def remove_stale_parts(self, live_tokens: Iterable[str] | None) -> int:
        """Drop temp files a crash left behind. None: this server is the only one (every temp file is
        garbage at its start); else only those of no running job and not written to for a while."""
        live = set(live_tokens) if live_tokens is not None else None
        before = time.time() - STALE_PART_SECONDS
        removed = 0
        for path in self.directory.glob(f".*{_PART_SUFFIX}"):
            match = _PART_NAME.fullmatch(path.name)
            if live is not None and (match is None or match[2] in live or _mtime(path) >= before):
                continue
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def path(self, name: str) -> Path | None:
        """The file of a result name, or None when the name is not one this store writes (or it is gone)."""
        if not is_result_name(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def writer(self, job_id: str, token: str, extension: str) -> ResultWriter:
        return ResultWriter(self.directory, f"{job_id}.{extension}", token)

    def remove(self, name: str) -> None:
        if is_result_name(name):
            (self.directory / name).unlink(missing_ok=True)

    def remove_orphans(self, referenced: set[str], older_than: float) -> int:
        """Delete result files no job refers to any more (a crash between rename and commit) once they
        are older than `older_than` (epoch seconds), so a result being committed right now is spared."""
        removed = 0
        for path in self.directory.iterdir():
            if is_result_name(path.name) and path.name not in referenced and path.stat().st_mtime < older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class ResultWriter:
    """Appends encoded audio to a temp file; `finish` makes it durable, `publish` moves it into place
    atomically, `discard` drops it."""

    def __init__(self, directory: Path, name: str, token: str) -> None:
        self.name = name
        self._final = directory / name
        stem, extension = name.rsplit(".", 1)
        self._temp = directory / f".{stem}.{token}.{extension}{_PART_SUFFIX}"
        self._file: BinaryIO = self._temp.open("w+b")  # read back to fix a WAV header

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def finish(self) -> None:
        """The whole file, on disk (before the transaction that publishes it)."""
        if self._final.suffix == ".wav":
            _fix_wav_sizes(self._file)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def publish(self) -> str:
        """Rename the finished file into place. Idempotent: a retry after a failed commit finds it there."""
        if self._temp.exists() or not self._final.exists():
            os.replace(self._temp, self._final)
            _fsync_directory(self._final.parent)
        return self.name

    def commit(self) -> str:
        """`finish` then `publish`, for a writer that needs no transaction between them."""
        self.finish()
        return self.publish()

    def discard(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)


def _fix_wav_sizes(file: BinaryIO) -> None:
    """A streamed WAV header says 'unknown length'; a finished file can carry the real sizes."""
    size = file.tell()
    file.seek(0)
    header = file.read(_WAV_HEADER)
    if size >= _WAV_HEADER and header[:4] == b"RIFF" and header[36:40] == b"data":
        riff_size, data_size = struct.unpack_from("<I", header, 4)[0], struct.unpack_from("<I", header, 40)[0]
        if _STREAMING_SIZE in (riff_size, data_size):
            file.seek(4)
            file.write(struct.pack("<I", size - 8))
            file.seek(40)
            file.write(struct.pack("<I", size - _WAV_HEADER))
    file.seek(size)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
