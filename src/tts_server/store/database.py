"""The database: a SQLite file in the data dir by default, PostgreSQL when TTS_DATABASE_URL names one.

Both go through SQLAlchemy Core, with one set of tables (schema.py) and one store code path; the
schema is brought up to date by Alembic migrations when the database is opened (migrate.py).

SQLite is *exclusive*: one server owns the data dir. One connection, guarded by a lock, used from
worker threads, as before: SQLite serialises writers anyway, the rows are small and few, and BEGIN
IMMEDIATE takes the write lock up front, so another process (the sqlite3 shell, a backup) cannot make
a transaction fail half-way. WAL mode lets such readers in while the server writes.

PostgreSQL is *shared* by every replica: a pool of connections, each transaction at READ COMMITTED,
rows that replicas race for locked explicitly (jobs are claimed with FOR UPDATE SKIP LOCKED), and
named locks (`lock`) that order writers across replicas as session advisory locks, held on a
connection of their own for as long as the block runs. A replica that dies loses its locks with its
connections. Pre-ping replaces connections a database restart broke, so a replica recovers by itself.

Callers on the event loop use `await db.run(fn)`, which runs `fn(conn)` in a worker thread inside one
transaction; code already in a worker thread uses `with db.transaction()`. A database that cannot be
reached raises DatabaseUnavailable (503 with Retry-After) and marks the database unreachable until a
later transaction or `ping` gets through.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from tts_server.errors import DatabaseUnavailable

DB_FILENAME = "tts_server.db"

T = TypeVar("T")

log = logging.getLogger(__name__)

_POOL_SIZE = 5
_POOL_OVERFLOW = 15  # named locks hold a connection each while their block opens transactions
_CONNECT_TIMEOUT = 5  # seconds: a database that does not answer is unavailable, not a hung request
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer server than this one."""


def database_url(data_dir: Path, url: str | None) -> URL:
    """The SQLAlchemy URL: `url` (postgresql://, postgres:// or postgresql+psycopg://) or, when it
    is None, the SQLite file in `data_dir`."""
    if not url:
        return URL.create("sqlite", database=str(data_dir / DB_FILENAME))
    parsed = make_url(url)
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return parsed
    raise ValueError(f"TTS_DATABASE_URL must be a postgresql:// URL (or sqlite:///path), not {parsed.drivername}://")


class Database:
    """A SQLAlchemy engine with the server's transaction, lock and outage rules (module docstring)."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.dialect = url.get_backend_name()
        self.exclusive = self.dialect == "sqlite"
        self.reachable = True
        self._local = threading.local()  # the calling thread's open transaction, to refuse nesting
        self._named: weakref.WeakValueDictionary[str, _NamedLock] = weakref.WeakValueDictionary()
        self._named_guard = threading.Lock()
        if self.exclusive:
            self._engine = _sqlite_engine(url)
            self._serial: threading.Lock | None = threading.Lock()
        else:
            self._engine = create_engine(
                url,
                pool_size=_POOL_SIZE,
                max_overflow=_POOL_OVERFLOW,
                pool_pre_ping=True,
                pool_timeout=_CONNECT_TIMEOUT * 2,
                connect_args={"connect_timeout": _CONNECT_TIMEOUT},
            )
            self._serial = None

    @classmethod
    def open(cls, data_dir: Path, url: str | None = None) -> Database:
        """Open (or create) the database and bring its schema up to date (Alembic)."""
        from tts_server.store.migrate import upgrade

        if not url:
            data_dir.mkdir(parents=True, exist_ok=True)
        db = cls(database_url(data_dir, url))
        try:
            upgrade(db)
        except BaseException:
            db.close()
            raise
        return db

    @classmethod
    async def connect(cls, data_dir: Path, url: str | None = None) -> Database:
        """`open` in a worker thread."""
        return await asyncio.to_thread(cls.open, data_dir, url)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def libpq_url(self) -> str:
        """The URL as libpq (psycopg) takes it, password included: for LISTEN/NOTIFY connections."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: commit on success, roll back on any exception.

        Blocking: call it from a worker thread (or at start-up), never from the event loop.
        Transactions do not nest: the block must not open another one.
        """
        if getattr(self._local, "transaction", None) is not None:
            raise RuntimeError("Database transactions do not nest; pass the connection down instead.")
        with self._serial or nullcontext(), self._reporting_outages(), self._engine.connect() as conn:
            self._local.transaction = conn.begin()
            try:
                yield conn
                self._commit()
            except BaseException:
                if self._local.transaction.is_active:
                    self._local.transaction.rollback()
                raise
            finally:
                self._local.transaction = None

    def _commit(self) -> None:
        self._local.transaction.commit()

    def run_sync(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in one transaction, in the calling thread."""
        with self.transaction() as conn:
            return fn(conn)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` in one transaction, in a worker thread.

        If the awaiting task is cancelled the transaction still completes (or rolls back) whole.
        """
        return await asyncio.to_thread(self.run_sync, fn)

    @contextmanager
    def _reporting_outages(self) -> Iterator[None]:
        try:
            yield
        except _UNAVAILABLE as error:
            if not self._is_outage(error):
                raise
            if self.reachable:
                log.warning("The database cannot be reached: %s", _first_line(error))
            self.reachable = False
            raise DatabaseUnavailable("The database cannot be reached right now; try again shortly.") from error
        else:
            if not self.reachable:
                log.info("The database can be reached again")
            self.reachable = True

    def _is_outage(self, error: Exception) -> bool:
        # SQLite: a locked or broken file is a bug or a full disk, not an outage to wait out
        return not (isinstance(error, exc.DBAPIError) and self.exclusive)

    # --- locks --------------------------------------------------------------------------------

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the lock called `name`: across threads of this process and, on PostgreSQL, across
        replicas. Blocking: from worker threads. Not re-entrant."""
        named = self._thread_lock(name)  # a strong reference while held, or the entry could vanish
        with named.lock:
            if self.exclusive:
                yield
                return
            with self._reporting_outages():
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                try:
                    conn.execute(select(func.pg_advisory_lock(_lock_key(name))))
                except BaseException:
                    conn.close()
                    raise
            try:
                yield
            finally:
                _release_advisory_lock(conn, name)

    @asynccontextmanager
    async def lock_async(self, name: str) -> AsyncIterator[None]:
        """`lock` held from the event loop, where it matters (across replicas; in this process the
        caller orders its own tasks): taken and released in worker threads, and released even when the
        waiting task is cancelled after its thread got the lock."""
        if self.exclusive:
            yield
            return
        lock = self.lock(name)
        acquiring = asyncio.ensure_future(asyncio.to_thread(lock.__enter__))
        try:
            await asyncio.shield(acquiring)
        except BaseException:
            acquiring.add_done_callback(lambda done: _release_when_taken(lock, done))
            raise
        try:
            yield
        finally:
            await asyncio.to_thread(lock.__exit__, None, None, None)

    def _thread_lock(self, name: str) -> _NamedLock:
        # One lock per name (not stripes: a block holding one name may take another in a worker thread).
        with self._named_guard:
            named = self._named.get(name)
            if named is None:
                named = self._named[name] = _NamedLock()
            return named

    # --- health -------------------------------------------------------------------------------

    def ping(self) -> bool:
        """True when the database answers a trivial query now; updates `reachable`. Blocking."""
        started = time.perf_counter()
        try:
            self.run_sync(lambda conn: conn.execute(text("SELECT 1")))
        except DatabaseUnavailable:
            return False
        log.debug("database ping: %.1f ms", (time.perf_counter() - started) * 1000)
        return True

    def close(self) -> None:
        with self._serial or nullcontext():
            self._engine.dispose()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


class _NamedLock:
    """A threading.Lock that a WeakValueDictionary can hold (the lock itself takes no weak references)."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


def _sqlite_engine(url: URL) -> Engine:
    # One connection shared by the worker threads (each transaction holds `_serial`).
    engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False, "timeout": 10.0})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, record: Any) -> None:
        # Transactions are begun here, explicitly (pysqlite's own handling defers BEGIN).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed row is on disk before files are touched after it (voices order their
        # file renames around commits); the cost is one fsync per commit, and commits are rare.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so another process cannot make this
        # transaction fail half-way with SQLITE_BUSY when it upgrades from read to write.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _release_when_taken(lock: AbstractContextManager[None], acquired: asyncio.Future[None]) -> None:
    if not acquired.cancelled() and acquired.exception() is None:
        threading.Thread(target=lock.__exit__, args=(None, None, None), daemon=True).start()


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() differs between processes)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _release_advisory_lock(conn: Connection, name: str) -> None:
    try:
        conn.execute(select(func.pg_advisory_unlock(_lock_key(name))))
    except exc.DBAPIError as error:  # the connection died: the lock went with it
        log.debug("advisory lock %s released with its connection: %s", name, _first_line(error))
    finally:
        conn.close()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
