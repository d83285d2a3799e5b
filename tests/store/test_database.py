from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tts_server.store.database import DB_FILENAME, Database, Schema, SchemaTooNew, sql_migration

V1 = sql_migration("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
V2 = sql_migration("ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT 'red'")


def test_the_file_is_in_wal_mode_under_the_data_dir(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "new_dir")
    try:
        assert (tmp_path / "new_dir" / DB_FILENAME).is_file()
        mode = db.run_sync(lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    finally:
        db.close()


def test_migrations_apply_in_order_and_later_ones_apply_on_the_next_start(tmp_path: Path) -> None:
    db = Database.open(tmp_path, [Schema("things", (V1,))])
    db.run_sync(lambda conn: conn.execute("INSERT INTO things (name) VALUES ('kept')"))
    db.close()

    db = Database.open(tmp_path, [Schema("things", (V1, V2))])
    try:
        assert db.schema_version("things") == 2
        rows = db.run_sync(lambda conn: conn.execute("SELECT name, colour FROM things").fetchall())
        assert [tuple(row) for row in rows] == [("kept", "red")]
        db.ensure_schema(Schema("things", (V1, V2)))  # idempotent
        assert db.schema_version("things") == 2
    finally:
        db.close()


def test_schemas_are_versioned_independently(tmp_path: Path) -> None:
    other = Schema("other", (sql_migration("CREATE TABLE other (id INTEGER)"),))
    db = Database.open(tmp_path, [Schema("things", (V1, V2)), other])
    try:
        assert (db.schema_version("things"), db.schema_version("other"), db.schema_version("absent")) == (2, 1, 0)
    finally:
        db.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (id INTEGER)")
        raise RuntimeError("migration bug")

    with pytest.raises(RuntimeError, match="migration bug"):
        Database.open(tmp_path, [Schema("things", (V1, broken))])
    db = Database.open(tmp_path)
    try:
        assert db.schema_version("things") == 1
        tables = db.run_sync(lambda conn: [r[0] for r in conn.execute("SELECT name FROM sqlite_master")])
        assert "things" in tables
        assert "half" not in tables
    finally:
        db.close()


def test_a_database_newer_than_the_server_is_refused(tmp_path: Path) -> None:
    Database.open(tmp_path, [Schema("things", (V1, V2))]).close()
    with pytest.raises(SchemaTooNew, match="version 2, newer than this server knows"):
        Database.open(tmp_path, [Schema("things", (V1,))])


async def test_run_executes_in_a_worker_thread_in_one_transaction(tmp_path: Path) -> None:
    db = Database.open(tmp_path, [Schema("things", (V1,))])
    try:
        loop_thread = threading.get_ident()

        def insert_then_fail(conn: sqlite3.Connection) -> None:
            assert threading.get_ident() != loop_thread
            conn.execute("INSERT INTO things (name) VALUES ('rolled back')")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await db.run(insert_then_fail)
        await db.run(lambda conn: conn.execute("INSERT INTO things (name) VALUES ('committed')"))
        names = await db.run(lambda conn: [r[0] for r in conn.execute("SELECT name FROM things")])
        assert names == ["committed"]
    finally:
        await db.aclose()


async def test_connect_opens_off_the_event_loop(tmp_path: Path) -> None:
    db = await Database.connect(tmp_path, [Schema("things", (V1,))])
    try:
        assert db.schema_version("things") == 1
    finally:
        await db.aclose()


def test_nested_transactions_are_refused_not_deadlocked(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="do not nest"):
            db.run_sync(lambda conn: db.run_sync(lambda inner: None))
        assert db.run_sync(lambda conn: 1) == 1
    finally:
        db.close()
