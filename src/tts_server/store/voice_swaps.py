"""A voice's change applied as one: its file swap and its row, with an undo journal a crash can replay.

The library (voices.py) decides what a change is; this module carries it out. Under the voice's lock (across
threads, and across replicas on a shared database) the swap is recorded in the journal in the same
transaction that reads the current row, the files are swapped (voice_files.py), and the new row is committed
with the journal row dropped: the commit point. A swap that fails before it is undone at once, or, when even
that fails, before the voice's next use; one that a crash interrupted is undone at the next start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Connection

from tts_server.errors import NotFound
from tts_server.store.database import Database
from tts_server.store.models import StoredVoice
from tts_server.store.voice_files import FileSwap, VoiceFiles
from tts_server.store.voice_rows import commit_swap, drop_swap, pending_swaps, record_swap, select_voice

log = logging.getLogger(__name__)

# On a shared data dir, temp files younger than this may belong to a write in flight on another replica.
STALE_TEMP_SECONDS = 600.0

Decide = Callable[[StoredVoice | None], StoredVoice | None]


class VoiceSwaps:
    """Applies voice changes atomically and undoes the ones left half-done."""

    def __init__(self, db: Database, files: VoiceFiles) -> None:
        self._db = db
        self._files = files

    @contextmanager
    def lock(self, voice_id: str) -> Iterator[None]:
        """Orders the writes of one id: across threads, and across replicas on a shared database."""
        with self._db.lock(f"voice:{voice_id.lower()}"):
            yield

    def apply(self, voice_id: str, swap: FileSwap, decide: Decide) -> StoredVoice | None:
        """Swap the voice's files and row as one change; the caller holds the voice's lock. `decide` sees the
        current row (inside the transaction that records the swap) and returns the new row, None to delete,
        or raises."""
        try:
            self.settle(voice_id)
            stem, new = self._db.run_sync(lambda conn: self._begin_swap(conn, voice_id, swap, decide))
        except BaseException:
            self._files.finish(swap)
            raise
        try:
            self._files.apply(stem, swap)
            self._db.run_sync(lambda conn: commit_swap(conn, stem, swap.token, new))
        except BaseException:
            if self._undo(stem, swap.token, swap.actions):
                self._files.finish(swap)
            raise
        self._files.finish(swap)
        return new

    @staticmethod
    def _begin_swap(conn: Connection, voice_id: str, swap: FileSwap, decide: Decide) -> tuple[str, StoredVoice | None]:
        current = select_voice(conn, voice_id)
        new = decide(current)
        owner = current or new
        if owner is None:
            raise not_found(voice_id)
        record_swap(conn, swap.token, owner.voice_id, swap.actions)
        return owner.voice_id, new

    def _undo(self, stem: str, token: str, actions: Mapping[str, str]) -> bool:
        """Undo a swap that did not commit. On failure the record stays and `settle` retries."""
        try:
            self._files.undo(stem, token, actions)
            self._db.run_sync(lambda conn: drop_swap(conn, token))
        except Exception:
            log.exception("Could not undo the change of voice '%s'; it is retried before the next use", stem)
            return False
        return True

    def settle(self, voice_id: str | None) -> None:
        """Undo swaps that a failure or crash left uncommitted: of one voice (whose lock the caller
        holds), or of all voices at start-up."""
        for token, stem, actions in self._db.run_sync(lambda conn: pending_swaps(conn, voice_id)):
            self._files.undo(stem, token, actions)
            self._db.run_sync(lambda conn: drop_swap(conn, token))  # noqa: B023 - runs at once

    def recover(self) -> None:
        """At start-up: undo every swap a crash interrupted, then remove stray temp files.

        On a shared database another replica may be mid-swap: each voice is settled under its lock
        (a dead replica's locks are gone), and only temp files old enough to be nobody's are removed."""
        if self._db.exclusive:
            self.settle(None)
            swept = self._files.sweep()
        else:
            for stem in {stem.lower() for _, stem, _ in self._db.run_sync(lambda conn: pending_swaps(conn, None))}:
                with self.lock(stem):
                    self.settle(stem)
            keep = [token for token, _, _ in self._db.run_sync(lambda conn: pending_swaps(conn, None))]
            swept = self._files.sweep(keep, older_than=time.time() - STALE_TEMP_SECONDS)
        for path in swept:
            log.info("Removed %s, left by an interrupted write", path.name)


def not_found(voice_id: str) -> NotFound:
    return NotFound(f"No reference voice named '{voice_id}'.", param="voice_id")
