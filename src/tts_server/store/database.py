"""The embedded database: one SQLite file under the data dir, shared by every store.

Concurrency: one connection, guarded by a lock, used from worker threads. SQLite serialises writers
anyway, the rows here are small and few, and one connection avoids per-thread connections that a
thread pool never closes. Callers on the event loop use `await db.run(fn)`, which runs `fn(conn)` in a
worker thread inside one transaction; code already in a worker thread uses `with db.transaction()`.
WAL mode lets other processes (the sqlite3 shell, a backup) read while the server writes.

Schemas: each store declares a `Schema` (a name and an ordered tuple of migrations) and calls
`db.ensure_schema(schema)`. Versions are kept per schema in `schema_versions`, so the voice library,
jobs and config evolve independently. Each migration runs in the transaction that records it, so a
crash mid-migration leaves the previous version.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

DB_FILENAME = "tts_server.db"

T = TypeVar("T")

Migration = Callable[[sqlite3.Connection], None]


def sql_migration(*statements: str) -> Migration:
    """A migration made of SQL statements, run in order inside the migration's transaction."""

    def migrate(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return migrate


@dataclass(frozen=True, slots=True)
class Schema:
    """The tables of one store. Append migrations; never edit or reorder released ones."""

    name: str
    migrations: tuple[Migration, ...]

    @property
    def version(self) -> int:
        return len(self.migrations)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer server than this one."""


class Database:
    """One SQLite file, one connection, transactions run in worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun and ended here, explicitly.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._owner: int | None = None  # thread inside a transaction, to refuse nesting (a deadlock)
        self._current: set[str] = set()
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed row is on disk before files are touched after it (voices order their
        # file renames around commits); the cost is one fsync per commit, and commits are rare.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")

    @classmethod
    def open(cls, data_dir: Path, schemas: Iterable[Schema] = ()) -> Database:
        """Open (or create) `<data_dir>/tts_server.db` and bring the given schemas up to date."""
        db = cls(data_dir / DB_FILENAME)
        try:
            for schema in schemas:
                db.ensure_schema(schema)
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    async def connect(cls, data_dir: Path, schemas: Iterable[Schema] = ()) -> Database:
        """`open` in a worker thread, for the app's lifespan."""
        schema_list = list(schemas)
        return await asyncio.to_thread(cls.open, data_dir, schema_list)

    def ensure_schema(self, schema: Schema) -> None:
        """Apply the schema's pending migrations, each in its own transaction. Idempotent."""
        if schema.name in self._current:
            return
        for target in range(1, schema.version + 1):
            with self.transaction() as conn:
                version = self._version(conn, schema.name)
                if version > schema.version:
                    raise SchemaTooNew(
                        f"Database schema '{schema.name}' is at version {version}, newer than this "
                        f"server knows ({schema.version}). Upgrade the server or use another data dir."
                    )
                if version >= target:
                    continue
                schema.migrations[target - 1](conn)
                conn.execute(
                    "INSERT INTO schema_versions (name, version) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET version = excluded.version",
                    (schema.name, target),
                )
        self._current.add(schema.name)

    def schema_version(self, name: str) -> int:
        with self.transaction() as conn:
            return self._version(conn, name)

    @staticmethod
    def _version(conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute("SELECT version FROM schema_versions WHERE name = ?", (name,)).fetchone()
        return int(row["version"]) if row else 0

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the connection for one transaction: commit on success, roll back on any exception.

        Blocking: call it from a worker thread (or at start-up), never from the event loop.
        Transactions do not nest: `fn` must not open another one.
        """
        if self._owner == threading.get_ident():
            raise RuntimeError("Database transactions do not nest; pass the connection down instead.")
        with self._lock:
            self._owner = threading.get_ident()
            # IMMEDIATE takes the write lock up front, so another process cannot make this
            # transaction fail half-way with SQLITE_BUSY when it upgrades from read to write.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._commit()
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise
            finally:
                self._owner = None

    def _commit(self) -> None:
        self._conn.commit()

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one transaction, in the calling thread."""
        with self.transaction() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one transaction, in a worker thread.

        If the awaiting task is cancelled the transaction still completes (or rolls back) whole.
        """
        return await asyncio.to_thread(self.run_sync, fn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
