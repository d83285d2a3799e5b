"""Alembic's environment: runs the migrations on the connection the server hands over.

The server applies migrations itself when it opens the database (store/migrate.py passes its
connection in `config.attributes["connection"]`). For the `alembic` command (writing a new revision,
`alembic upgrade head` before a rolling deploy) the URL comes from TTS_DATABASE_URL, or `-x url=...`.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import context
from sqlalchemy import Connection, create_engine

from tts_server.store.database import database_url
from tts_server.store.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transaction_per_migration=True,  # a failing migration leaves the previous revision, whole
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        transactional_ddl=True,  # SQLite's DDL is transactional too, with the server's explicit BEGIN
    )
    with context.begin_transaction():
        context.run_migrations()


def run_from_command_line() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("TTS_DATABASE_URL")
    if not url:
        raise SystemExit("Set TTS_DATABASE_URL (or pass -x url=...) to run migrations from the command line.")
    engine = create_engine(database_url(Path("."), url))
    with engine.connect() as connection:
        run(connection)
    engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    run_from_command_line()
