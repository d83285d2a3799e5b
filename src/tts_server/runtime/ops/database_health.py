"""Whether the database can be reached, for /health: known from every query, and checked on a timer.

Queries mark the database unreachable the moment one fails (store/database.py). This monitor pings it
every few seconds (more often while it is down), so /health answers from memory and still tells the
truth on a replica that happens to have no traffic, and says when it is back.
"""

from __future__ import annotations

import asyncio

from tts_server.store.database import Database

PING_SECONDS = 5.0
PING_SECONDS_WHILE_DOWN = 1.0


class DatabaseMonitor:
    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def reachable(self) -> bool:
        return self._db.reachable

    @property
    def shared(self) -> bool:
        return not self._db.exclusive

    async def run_periodically(self) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS if self._db.reachable else PING_SECONDS_WHILE_DOWN)
            await asyncio.to_thread(self._db.ping)
