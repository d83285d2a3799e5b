"""Schema migrations at start-up: Alembic, run by the server on its own connection.

Why Alembic: it is SQLAlchemy's own migration tool, keeps one linear history for both dialects,
alters SQLite tables the only way SQLite allows (batch mode) and lets an operator run or inspect the
same migrations with the `alembic` command. Each revision runs in its own transaction, so a failing
one leaves the database at the previous revision.

Replicas that start together take turns (a named lock, an advisory lock on PostgreSQL): the first
migrates, the others find the schema current. A database whose revision this server does not know
was written by a newer server, and is refused rather than guessed at. Earlier servers kept
per-store versions in `schema_versions`; revision 0001 adopts such a data dir in place.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from tts_server.store.database import Database, SchemaTooNew

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def upgrade(db: Database) -> None:
    """Bring the database to the newest revision this server knows. Blocking (start-up)."""
    if _current(db) == head_revision():
        return  # the common start: nothing to do, and no need to wait for another replica's turn
    with db.lock("schema-migrations"), db.engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
        _refuse_unknown(revision)
        config = alembic_config()
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, "head")
        except CommandError as error:
            raise SchemaTooNew(str(error)) from error
        conn.commit()
    log.info("Database schema upgraded from %s to %s", revision or "nothing", head_revision())


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str:
    """The newest revision this server knows (read once: the scripts ship with the server)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions())


def _current(db: Database) -> str | None:
    def read(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    return db.run_sync(read)


def _refuse_unknown(revision: str | None) -> None:
    if revision is not None and revision not in _known_revisions():
        raise SchemaTooNew(
            f"The database is at schema revision '{revision}', which this server does not know (it knows up to "
            f"'{head_revision()}'): a newer server wrote it. Upgrade the server or use another database."
        )
