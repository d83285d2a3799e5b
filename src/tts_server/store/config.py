"""Runtime configuration changed through PUT /config, kept in the embedded database.

One row per key, its value as JSON. Only keys that were changed at run time are stored; everything
else keeps coming from the environment. Validation happens above this layer (runtime/config.py),
which also re-validates what it reads back, so a value an older server stored cannot break start-up.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from tts_server.store.database import Database, Schema, sql_migration
from tts_server.store.models import to_db_time, utc_now

CONFIG_SCHEMA = Schema(
    name="config",
    migrations=(
        sql_migration(
            "CREATE TABLE runtime_config (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)"
        ),
    ),
)


class ConfigStore:
    def __init__(self, db: Database) -> None:
        db.ensure_schema(CONFIG_SCHEMA)
        self._db = db

    def load(self) -> dict[str, Any]:
        """Every stored override. Blocking: for start-up."""
        return self._db.run_sync(_load)

    async def save(self, values: Mapping[str, Any]) -> None:
        """Store the given overrides, all in one transaction."""
        now = to_db_time(utc_now())
        rows = [(key, json.dumps(value), now) for key, value in values.items()]

        def save(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO runtime_config (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                rows,
            )

        await self._db.run(save)


def _load(conn: sqlite3.Connection) -> dict[str, Any]:
    return {row["key"]: json.loads(row["value"]) for row in conn.execute("SELECT key, value FROM runtime_config")}
