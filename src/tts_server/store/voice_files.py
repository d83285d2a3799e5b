"""The files of reference voices under audio_prompts/, swapped in a way that a crash can undo.

A voice is `<id>.wav` (normalised audio) plus `<id>.txt` (transcript), and its database row. Two files
cannot be renamed at once, so a change is a *swap* with an undo record (a row in the voices journal,
written by the library before the first file moves):

1. the new contents are written to temp files `.<token>.<suffix>.new` and fsynced;
2. (journal row committed by the caller)
3. each file about to change is kept as `.<token>.<suffix>.old` (a hard link, so `<id>.wav` never
   disappears for a reader), or, where none existed, a marker `.<token>.<suffix>.absent` is left;
4. the new files are renamed over the old names;
5. (the caller commits the new row and drops the journal row in one transaction: the commit point)
6. backups and markers are removed.

Until step 5 commits, `undo` puts every file back from its backup (or removes it where the marker says
there was none); it is idempotent, so a crash during an undo is undone again at the next start. After
step 5, leftovers are plain garbage that `sweep` removes. Temp names start with a dot and do not end
in an audio extension, so discovery never mistakes them for voices.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

AUDIO_EXTENSIONS = frozenset({"wav", "mp3", "ogg", "opus", "flac", "m4a", "aac", "webm"})
_TEMP_NAME = re.compile(r"\.(?P<token>[0-9a-f]{32})\.[a-z0-9]{1,8}\.(?:new|old|absent)")

FileAction = Literal["replace", "remove"]


@dataclass(slots=True)
class FileSwap:
    """The planned change of some of one voice's files; files not named here are kept."""

    token: str = field(default_factory=lambda: secrets.token_hex(16))
    staged: dict[str, Path] = field(default_factory=dict)  # suffix -> temp file with new content
    removed: set[str] = field(default_factory=set)  # suffixes whose file goes away

    @property
    def actions(self) -> dict[str, FileAction]:
        actions: dict[str, FileAction] = {suffix: "remove" for suffix in self.removed}
        actions.update({suffix: "replace" for suffix in self.staged})
        return actions


class VoiceFiles:
    """File operations on one audio_prompts/ directory. Blocking: call from worker threads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, voice_id: str, suffix: str) -> Path:
        return self.directory / f"{voice_id}.{suffix}"

    def _temp(self, token: str, suffix: str, kind: str) -> Path:
        return self.directory / f".{token}.{suffix}.{kind}"

    def stage(self, swap: FileSwap, suffix: str, data: bytes) -> None:
        """Write the new content of `<id>.<suffix>` to a temp file, durably."""
        path = self._temp(swap.token, suffix, "new")
        with open(path, "xb") as handle:
            swap.staged[suffix] = path
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        swap.removed.discard(suffix)

    def remove(self, swap: FileSwap, suffix: str) -> None:
        """Plan `<id>.<suffix>` to be removed (when it exists)."""
        self._unlink(swap.staged.pop(suffix, None))
        swap.removed.add(suffix)

    def apply(self, voice_id: str, swap: FileSwap) -> None:
        """Steps 3 and 4: keep what is about to change, then move the new files into place."""
        for suffix, action in swap.actions.items():
            final = self.path(voice_id, suffix)
            backup = self._temp(swap.token, suffix, "old")
            if final.exists():
                self._keep(final, backup, move=action == "remove")
            elif action == "replace":
                self._temp(swap.token, suffix, "absent").touch()
        _fsync_dir(self.directory)
        for suffix, staged in swap.staged.items():
            os.replace(staged, self.path(voice_id, suffix))
        _fsync_dir(self.directory)

    @staticmethod
    def _keep(final: Path, backup: Path, *, move: bool) -> None:
        if not move:
            try:
                os.link(final, backup)
                return
            except OSError:  # no hard links on this file system: a rename will do
                pass
        os.replace(final, backup)

    def undo(self, voice_id: str, token: str, actions: Mapping[str, str]) -> None:
        """Put every file of an uncommitted swap back as it was. Idempotent."""
        for suffix in actions:
            final = self.path(voice_id, suffix)
            backup = self._temp(token, suffix, "old")
            absent = self._temp(token, suffix, "absent")
            if backup.exists():
                os.replace(backup, final)
                # rename() between two links of one file does nothing: drop the backup name then.
                backup.unlink(missing_ok=True)
            elif absent.exists():
                final.unlink(missing_ok=True)
            absent.unlink(missing_ok=True)
            self._temp(token, suffix, "new").unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def finish(self, swap: FileSwap) -> None:
        """Step 6 (after the commit), and the clean-up of a swap that never started: drop temp files."""
        for suffix in {*swap.staged, *swap.removed}:
            for kind in ("new", "old", "absent"):
                self._temp(swap.token, suffix, kind).unlink(missing_ok=True)

    def sweep(self, keep_tokens: Iterable[str] = (), older_than: float | None = None) -> list[Path]:
        """Remove temp files of swaps that no journal row refers to (left by a crash); with
        `older_than` (epoch seconds), only those last written before it."""
        keep = set(keep_tokens)
        removed: list[Path] = []
        for path in self.directory.iterdir():
            match = _TEMP_NAME.fullmatch(path.name)
            if match and match["token"] not in keep and path.is_file() and _older(path, older_than):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    @staticmethod
    def _unlink(path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)


def _older(path: Path, than: float | None) -> bool:
    try:
        return than is None or path.stat().st_mtime < than
    except FileNotFoundError:
        return False


def _fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable (POSIX); a no-op where directories cannot be opened."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
