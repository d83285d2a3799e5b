"""Runtime configuration changed through PUT /config, kept in the database.

One row per key, its value as JSON. Only keys that were changed at run time are stored; everything
else keeps coming from the environment. Validation happens above this layer (runtime/config.py),
which also re-validates what it reads back, so a value an older server stored cannot break start-up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from tts_server.store.database import Database
from tts_server.store.models import utc_now
from tts_server.store.schema import runtime_config


class ConfigStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def load(self) -> dict[str, Any]:
        """Every stored override. Blocking: for start-up."""
        return self._db.run_sync(_load)

    async def load_async(self) -> dict[str, Any]:
        """Every stored override, read in a worker thread (another replica may have changed them)."""
        return await self._db.run(_load)

    async def save(self, values: Mapping[str, Any]) -> None:
        """Store the given overrides, all in one transaction."""
        now = utc_now()
        rows = [{"key": key, "value": json.dumps(value), "updated_at": now} for key, value in values.items()]

        def save(conn: Connection) -> None:
            for row in rows:
                insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(runtime_config)
                statement = insert.values(row)
                conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["key"],
                        set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
                    )
                )

        if rows:
            await self._db.run(save)


def _load(conn: Connection) -> dict[str, Any]:
    rows = conn.execute(select(runtime_config.c.key, runtime_config.c.value)).all()
    return {row.key: json.loads(row.value) for row in rows}
