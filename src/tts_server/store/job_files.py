"""Result files of async jobs under outputs/: written to a temp file, then renamed into place.

A result is `<job_id>.<ext>`; while it is being written it is `.<job_id>.<ext>.part`, which nothing
serves and the next start removes. Blocking: call from worker threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

from tts_server.store.jobs import JOB_ID_PATTERN

OUTPUTS_DIR = "outputs"

_RESULT_NAME = re.compile(JOB_ID_PATTERN + r"\.[a-z0-9]{1,5}")
_PART_SUFFIX = ".part"
_STREAMING_SIZE = 0xFFFFFFFF
_WAV_HEADER = 44


def is_result_name(name: str) -> bool:
    return _RESULT_NAME.fullmatch(name) is not None


class ResultFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def prepare(self) -> None:
        """Create outputs/ and drop temp files a crash left behind."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob(f".*{_PART_SUFFIX}"):
            leftover.unlink(missing_ok=True)

    def path(self, name: str) -> Path | None:
        """The file of a result name, or None when the name is not one this store writes (or it is gone)."""
        if not is_result_name(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    def writer(self, job_id: str, extension: str) -> ResultWriter:
        return ResultWriter(self.directory, f"{job_id}.{extension}")

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
    """Appends encoded audio to a temp file; `commit` makes it the result atomically, `discard` drops it."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self._final = directory / name
        self._temp = directory / f".{name}{_PART_SUFFIX}"
        self._file: BinaryIO = self._temp.open("w+b")  # read back to fix a WAV header

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> str:
        if self._final.suffix == ".wav":
            _fix_wav_sizes(self._file)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._temp, self._final)
        _fsync_directory(self._final.parent)
        return self.name

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


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

