"""The database layer on SQLite and PostgreSQL: migrations, transactions, locks, outages, and the
upgrade in place of a data dir that an earlier server wrote."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from tests.conftest import make_settings, running_app
from tests.store.conftest import query
from tests.support.audio import decode_bytes
from tests.support.postgres import PostgresForTests
from tts_server.errors import DatabaseUnavailable
from tts_server.store import migrate
from tts_server.store.database import DB_FILENAME, Database, SchemaTooNew

LEGACY = Path(__file__).parent / "legacy" / "data"
LEGACY_DONE_JOB = "4647de59-360d-4429-8868-ae99908ab6de"
LEGACY_PENDING_JOB = "6b1f1c8e-0b4e-4a57-9d0a-7f3c1d2e4b5a"
TABLES = {"alembic_version", "jobs", "reference_voice_swaps", "reference_voices", "runtime_config", "voice_mappings"}


def tables(db: Database) -> set[str]:
    return set(db.run_sync(lambda conn: inspect(conn).get_table_names())) - {"schema_versions"}


def test_sqlite_is_a_wal_file_under_the_data_dir(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "new_dir")
    try:
        assert (tmp_path / "new_dir" / DB_FILENAME).is_file() and db.exclusive
        assert db.run_sync(lambda conn: conn.execute(text("PRAGMA journal_mode")).scalar()) == "wal"
    finally:
        db.close()


def test_a_new_database_gets_every_table_at_the_head_revision(data_dir: Path, db_url: str | None) -> None:
    db = Database.open(data_dir, db_url)
    try:
        assert tables(db) == TABLES
        assert query(data_dir, db_url, "SELECT version_num FROM alembic_version") == [(migrate.head_revision(),)]
    finally:
        db.close()
    Database.open(data_dir, db_url).close()  # a second open finds it current


def test_a_database_from_a_newer_server_is_refused(data_dir: Path, db_url: str | None) -> None:
    db = Database.open(data_dir, db_url)
    db.run_sync(lambda conn: conn.execute(text("UPDATE alembic_version SET version_num = '9999'")))
    db.close()
    with pytest.raises(SchemaTooNew, match=r"revision '9999'.*newer server"):
        Database.open(data_dir, db_url)


def test_a_failing_migration_leaves_the_previous_revision(
    data_dir: Path, db_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, scripts)
    (scripts / "versions" / "0099_broken.py").write_text(
        'revision = "0099"\ndown_revision = "0002"\nfrom alembic import op\n\n'
        "def upgrade():\n    op.execute('CREATE TABLE half_done (id INTEGER)')\n    raise RuntimeError('migration bug')\n"
    )
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", scripts)
    migrate.head_revision.cache_clear()
    migrate._known_revisions.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="migration bug"):
            Database.open(data_dir, db_url)
    finally:
        migrate.head_revision.cache_clear()
        migrate._known_revisions.cache_clear()
    assert query(data_dir, db_url, "SELECT version_num FROM alembic_version") == [("0002",)]
    monkeypatch.undo()
    db = Database.open(data_dir, db_url)
    try:
        assert "half_done" not in tables(db)
    finally:
        db.close()


def test_replicas_starting_together_migrate_once(postgres_url: str, data_dir: Path) -> None:
    opened: list[Database] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(Database.open(data_dir, postgres_url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 3
    assert query(data_dir, postgres_url, "SELECT version_num FROM alembic_version") == [(migrate.head_revision(),)]
    for db in opened:
        db.close()


async def test_run_executes_in_a_worker_thread_in_one_transaction(data_dir: Path, db_url: str | None) -> None:
    db = await Database.connect(data_dir, db_url)
    try:
        loop_thread = threading.get_ident()
        insert = text(
            "INSERT INTO runtime_config (key, value, updated_at) VALUES (:k, '1', '2024-01-01T00:00:00+00:00')"
        )

        def insert_then_fail(conn: object) -> None:
            assert threading.get_ident() != loop_thread
            conn.execute(insert, {"k": "rolled back"})  # type: ignore[attr-defined]
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await db.run(insert_then_fail)
        await db.run(lambda conn: conn.execute(insert, {"k": "committed"}))
        keys = await db.run(lambda conn: list(conn.scalars(text("SELECT key FROM runtime_config"))))
        assert keys == ["committed"]
    finally:
        await db.aclose()


def test_nested_transactions_are_refused_not_deadlocked(data_dir: Path, db_url: str | None) -> None:
    db = Database.open(data_dir, db_url)
    try:
        with pytest.raises(RuntimeError, match="do not nest"):
            db.run_sync(lambda conn: db.run_sync(lambda inner: None))
        assert db.run_sync(lambda conn: 1) == 1
    finally:
        db.close()


def test_named_locks_exclude_other_replicas(postgres_url: str, data_dir: Path) -> None:
    first, second = Database.open(data_dir, postgres_url), Database.open(data_dir, postgres_url)
    order: list[str] = []
    held = threading.Event()

    def hold() -> None:
        with first.lock("voice:anna"):
            held.set()
            time.sleep(0.3)
            order.append("first released")

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    with second.lock("voice:anna"):
        order.append("second acquired")
    with second.lock("voice:bob"):  # another name is free at once
        pass
    thread.join()
    assert order == ["first released", "second acquired"]
    first.close()
    second.close()


def test_a_lost_database_is_unavailable_then_recovers_by_itself(postgres: PostgresForTests, data_dir: Path) -> None:
    db = Database.open(data_dir, postgres.new_database())
    try:
        assert db.ping() and db.reachable
        postgres.stop_server()
        try:
            with pytest.raises(DatabaseUnavailable) as info:
                db.run_sync(lambda conn: conn.execute(text("SELECT 1")))
            assert info.value.status_code == 503 and info.value.headers["Retry-After"]
            assert not db.reachable and not db.ping()
        finally:
            postgres.start_server()
        assert db.ping() and db.reachable  # the pool replaced its dead connections
    finally:
        db.close()


async def test_a_data_dir_from_the_earlier_server_upgrades_in_place(tmp_path: Path) -> None:
    """tests/store/legacy/data was written by the server before this database layer (see its script)."""
    data_dir = tmp_path / "data"
    shutil.copytree(LEGACY, data_dir)
    async with running_app(make_settings(data_dir)) as client:
        voice = (await client.get("/audio_prompts/metadata/narrator")).json()
        assert voice["transcript"] == "Old words." and voice["transcript_source"] == "manual"
        mapping = (await client.get("/voice_mappings")).json()
        assert (
            mapping["storyteller"]["audio_prompt"] == "Narrator" and mapping["storyteller"]["primary_speaker"] == "S2"
        )
        assert (await client.get("/config")).json()["output_retention_hours"] == 48.0
        done = await client.get(f"/jobs/{LEGACY_DONE_JOB}/result")
        assert done.status_code == 200 and decode_bytes(done.content).duration > 0.5
        spoken = await client.post(
            "/v1/audio/speech", json={"input": "Cloned from an old voice.", "voice": "storyteller"}
        )
        assert spoken.status_code == 200 and decode_bytes(spoken.content).duration > 0.5
        for _ in range(1000):
            pending = (await client.get(f"/jobs/{LEGACY_PENDING_JOB}")).json()
            if pending["status"] == "completed":
                break
            await asyncio.sleep(0.02)
        assert pending["status"] == "completed" and pending["attempts"] == 1
    versions = dict(query(data_dir, None, "SELECT name, version FROM schema_versions"))
    assert versions == {"voices": 2, "voice_mappings": 2, "jobs": 2, "config": 2}  # an earlier server refuses it now
