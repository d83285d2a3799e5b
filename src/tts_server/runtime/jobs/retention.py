"""The retention sweep: finished jobs older than output_retention_hours go, with their result files."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from tts_server.settings import Settings
from tts_server.store.job_claims import JobClaims
from tts_server.store.job_files import ResultFiles
from tts_server.store.jobs import JobStore
from tts_server.store.models import utc_now

log = logging.getLogger(__name__)

SWEEP_SECONDS = 300.0


class JobRetention:
    def __init__(self, store: JobStore, files: ResultFiles, settings: Settings) -> None:
        self._store = store
        self._files = files
        self._settings = settings  # live: PUT /config changes output_retention_hours

    async def run_periodically(self) -> None:
        while True:
            await self.remove_expired()
            await asyncio.sleep(SWEEP_SECONDS)

    async def remove_expired(self) -> int:
        """Delete finished jobs older than output_retention_hours and their results, and result files
        no job refers to (0 hours keeps everything). Returns how many jobs went."""
        hours = self._settings.output_retention_hours
        if hours <= 0:
            return 0
        cutoff = utc_now() - timedelta(hours=hours)
        expired = await self._store.delete_finished_before(cutoff)
        referenced = await self._store.result_files()
        live = await JobClaims(self._store.db).live_tokens()  # temp files of jobs running on any replica
        names = [record.result_file for record in expired if record.result_file]

        def remove() -> None:
            for name in names:
                self._files.remove(name)
            self._files.remove_orphans(referenced, cutoff.timestamp())
            self._files.remove_stale_parts(live)  # left by a replica that died mid-job

        await asyncio.to_thread(remove)
        if expired:
            log.info("removed %d job(s) older than %g hours", len(expired), hours)
        return len(expired)
