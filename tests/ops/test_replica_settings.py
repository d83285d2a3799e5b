"""The replica settings on a single server: /health names it and its database; what needs a shared
database is refused without one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.conftest import AppFactory, make_settings, running_app


async def test_health_names_the_replica_and_its_database(app_factory: AppFactory) -> None:
    async with app_factory() as client:
        health = (await client.get("/health")).json()
        assert health["replica_id"] == f"{socket.gethostname()}-{os.getpid()}"
        assert health["database"] == {"dialect": "sqlite", "reachable": True} and health["status"] == "healthy"
        scope = (await client.get("/stats")).json()["scope"]
        assert scope["queued_jobs"] == "replica" and scope["replica_id"] == health["replica_id"]
    async with app_factory(replica_id="gpu-box-2") as client:
        assert (await client.get("/health")).json()["replica_id"] == "gpu-box-2"


async def test_a_replica_that_runs_no_jobs_needs_a_shared_database(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"TTS_JOB_WORKERS=0 .* needs TTS_DATABASE_URL"):
        async with running_app(make_settings(data_dir, job_workers=0)):
            pass
