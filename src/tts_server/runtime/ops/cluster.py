"""Notices between replicas: PostgreSQL LISTEN/NOTIFY, or nothing at all on SQLite.

Replicas share their state through the database; this bus only tells the others, at once, that
something changed: a job was queued (wake a worker), a job made progress or audio or ended (relay it
to a WebSocket watching it there), a job was cancelled (stop it where it runs), the config or a voice
changed (reload it). Every notice is a hint that the database backs: one lost while a replica was
cut off is made good by `on_connect` handlers, which reload what they cache whenever the listening
connection is (re)established, and by the periodic checks of their owners.

It runs on psycopg's async connections, on the event loop: a LISTEN connection is a long-lived stream
(a thread blocked in it could not be stopped), and publishing is a short write. Notices are published
from a queue in the order given, by one task, so the senders never wait on the database.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tts_server.runtime.ops.tasks import TaskSupervisor

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
ConnectHandler = Callable[[], Awaitable[None]]

MAX_PAYLOAD_BYTES = 7_900  # PostgreSQL's limit is 8,000 bytes per notice, channel name included
_QUEUE_LIMIT = 10_000
_HEARTBEAT_SECONDS = 5.0
_MAX_BACKOFF = 5.0


class ClusterBus:
    """Publish and subscribe to notices of other replicas. Without a URL (SQLite) it is silent."""

    def __init__(self, replica_id: str, url: str | None) -> None:
        self.replica_id = replica_id
        self.shared = url is not None
        self.connected = False
        self._url = url
        self._handlers: dict[str, list[Handler]] = {}
        self._on_connect: list[ConnectHandler] = []
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(_QUEUE_LIMIT)
        self._tasks = TaskSupervisor("cluster")
        self._dropped = 0

    def subscribe(self, channel: str, handler: Handler) -> None:
        """Call `handler(payload)` for each notice of another replica on `channel` (before `start`)."""
        self._handlers.setdefault(channel, []).append(handler)

    def on_connect(self, handler: ConnectHandler) -> None:
        """Call `handler()` each time the bus (re)connects: reload whatever notices may have been missed."""
        self._on_connect.append(handler)

    def publish(self, channel: str, payload: dict[str, Any]) -> None:
        """Send a notice to the other replicas; never blocks, and drops (with a warning) when the
        database has been unreachable for long enough to fill the queue."""
        if not self.shared:
            return
        text = json.dumps({**payload, "origin": self.replica_id}, separators=(",", ":"))
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"notice on {channel} is {len(text)} bytes; split it")
        try:
            self._outbox.put_nowait((channel, text))
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped in (1, 100) or self._dropped % 10_000 == 0:
                log.warning("%d notice(s) to other replicas dropped: the database is unreachable", self._dropped)

    async def start(self) -> None:
        if self.shared:
            self._tasks.keep_running("listen", self._listen)
            self._tasks.keep_running("publish", self._send)

    async def stop(self) -> None:
        await self._tasks.stop()
        self.connected = False

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # psycopg.Error, OSError: the database went away
                log.warning("Listening for other replicas' notices failed (%s); retrying in %.1fs", error, delay)
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def _listen_once(self) -> None:
        import psycopg
        from psycopg import sql

        assert self._url is not None
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=5) as conn:
            for channel in self._handlers:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.connected = True
            log.info("Listening for other replicas' notices on %s", ", ".join(sorted(self._handlers)))
            for handler in self._on_connect:
                await _safely(handler, "reload after connecting")
            while True:
                async for notice in conn.notifies(timeout=_HEARTBEAT_SECONDS):
                    await self._dispatch(notice.channel, notice.payload)
                await conn.execute("SELECT 1")  # a heartbeat: notices alone would not notice a dead server

    async def _dispatch(self, channel: str, text: str) -> None:
        try:
            payload = json.loads(text)
        except ValueError:
            log.warning("Ignoring a malformed notice on %s", channel)
            return
        if payload.get("origin") == self.replica_id:
            return
        for handler in self._handlers.get(channel, []):
            await _safely(functools.partial(handler, payload), f"notice on {channel}")

    async def _send(self) -> None:
        import psycopg

        assert self._url is not None
        while True:
            channel, text = await self._outbox.get()
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    await conn.execute("SELECT pg_notify(%s, %s)", (channel, text))
                    while True:  # keep the connection while notices keep coming
                        channel, text = await self._outbox.get()
                        await conn.execute("SELECT pg_notify(%s, %s)", (channel, text))
            except (psycopg.Error, OSError) as error:
                log.warning("A notice to other replicas was lost (%s)", error)
                await asyncio.sleep(0.5)


async def _safely(call: Callable[[], Awaitable[None] | None], what: str) -> None:
    try:
        result = call()
        if result is not None:
            await result
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("Handling a %s failed", what)
