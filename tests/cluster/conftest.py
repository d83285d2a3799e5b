"""Replicas as real server processes (`python -m tts_server`, uvicorn) on one PostgreSQL database and
one data dir, as behind a load balancer. Their logs go to files the tests read (which replica
completed which job)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.postgres import PostgresForTests
from tts_server.store.database import database_url

LEASE_SECONDS = 3.0  # short, so a dead replica's jobs move on quickly
COMPLETED = re.compile(r"job (?P<job>[0-9a-f-]{36}) completed by (?P<replica>\S+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Replica:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def completions(self) -> list[tuple[str, str]]:
        """(job, replica) for each job this replica's log says it completed."""
        return [(m["job"], m["replica"]) for m in COMPLETED.finditer(self.log.read_text(errors="replace"))]

    def kill(self) -> None:
        """kill -9: no shutdown, no requeue, its leases simply stop being renewed."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def pause(self) -> None:
        """SIGSTOP: frozen, connections open, leases not renewed."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)


@dataclass
class Cluster:
    db_url: str
    data_dir: Path
    logs: Path
    replicas: list[Replica] = field(default_factory=list)

    def start(self, name: str, **env: str) -> Replica:
        port = _free_port()
        log = self.logs / f"{name}.log"
        environment = {
            **os.environ,
            "TTS_DATABASE_URL": self.db_url,
            "TTS_REPLICA_ID": name,
            "TTS_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "TTS_PROVIDER": "espeak",
            "TTS_WORKERS": "1",
            "TTS_RATE_LIMIT_ENABLED": "false",
            "TTS_AUTO_TRANSCRIBE": "false",
            "TTS_WHISPER_MODEL": str(self.data_dir / "no-whisper.pt"),
            "TTS_DEBUG_MODE": "true",  # the server's own debug lines: which replica completed which job
            **env,
        }
        command = [sys.executable, "-m", "tts_server", "--port", str(port), "--data-dir", str(self.data_dir)]
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill -9 takes its engine workers too
                cwd=self.logs,
            )
        replica = Replica(name, process, f"http://127.0.0.1:{port}", log)
        self.replicas.append(replica)
        wait_until(lambda: _healthy(replica), 60, f"replica {name} to start (see {log})")
        return replica

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = create_engine(database_url(self.data_dir, self.db_url))
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def jobs(self) -> dict[str, tuple[str, int, str | None]]:
        """job_id -> (status, attempts, lease_owner)."""
        return {
            row[0]: (row[1], row[2], row[3])
            for row in self.rows("SELECT job_id, status, attempts, lease_owner FROM jobs")
        }

    def completions(self) -> list[tuple[str, str]]:
        return [entry for replica in self.replicas for entry in replica.completions()]

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop()


def _healthy(replica: Replica) -> bool:
    if replica.process.poll() is not None:
        raise AssertionError(f"replica {replica.name} exited:\n{replica.log.read_text(errors='replace')[-3000:]}")
    with contextlib.suppress(httpx.HTTPError):
        return bool(httpx.get(f"{replica.url}/health", timeout=2).json().get("status") == "healthy")
    return False


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; generous deadlines, no fixed sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster(postgres: PostgresForTests, tmp_path: Path) -> Iterator[Cluster]:
    """A fresh database and data dir; replicas started with `cluster.start(name)` are stopped after."""
    data_dir, logs = tmp_path / "shared-data", tmp_path / "logs"
    data_dir.mkdir()
    logs.mkdir()
    cluster = Cluster(postgres.new_database(), data_dir, logs)
    try:
        yield cluster
    finally:
        cluster.stop()
