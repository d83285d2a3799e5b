"""A real PostgreSQL 16 for tests: the `pgserver` package's binaries, started once per test session.

Each test that asks gets a database of its own (CREATE DATABASE, a few ms), so tests never see each
other's rows. `restart` stops and starts the server in place, as an outage a replica must survive.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


class PostgresForTests:
    def __init__(self, pgdata: Path) -> None:
        import pgserver

        self._server = pgserver.get_server(pgdata, cleanup_mode="delete")
        self.pgdata = pgdata
        self._socket_dir = self._server.get_postmaster_info().socket_dir

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        uri: str = self._server.get_uri(name)
        return uri

    def restart(self) -> None:
        """Stop the server (dropping every connection) and start it again on the same data and socket."""
        self.pg_ctl("-m", "fast", "-w", "restart")

    def stop_server(self) -> None:
        """Stop the server (an outage); `start_server` brings it back on the same socket."""
        self.pg_ctl("-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        self.pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.pgdata, user=self._server.system_user, timeout=60)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):  # already stopped
            self._server.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresForTests]:
    """The session's PostgreSQL server (started on first use)."""
    # Not under pytest's temp dir: as root, pgserver runs the server as its own user, which must be able
    # to reach the data dir, and pytest keeps its base dir private.
    base = Path(tempfile.mkdtemp(prefix="tts-pg-"))
    server = PostgresForTests(base / "data")
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres: PostgresForTests) -> str:
    """A fresh database on the session's server."""
    return postgres.new_database()
