"""Writes a data dir the way the server did before the database moved to SQLAlchemy and Alembic.

Run with the code of commit a52b07c on the path (the last one with per-store `schema_versions`):
    git archive a52b07c src tests | tar -x -C /tmp/legacy
    PYTHONPATH=/tmp/legacy/src:/tmp/legacy python tests/store/legacy/make_data_dir.py tests/store/legacy/data
It holds a reference voice with a transcript, a voice mapping on it, a changed config value, a completed
job with its result file, and a job still pending, as an upgrade must keep them all.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
from tests.conftest import make_settings, wait_until_ready
from tests.store.conftest import voice_wav

from tts_server.app import create_app
from tts_server.runtime.jobs.options import options_to_params
from tts_server.runtime.speech import SpeechOptions
from tts_server.store.database import Database
from tts_server.store.jobs import JobStore

PENDING_JOB = "6b1f1c8e-0b4e-4a57-9d0a-7f3c1d2e4b5a"


async def main(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(make_settings(data_dir))
    async with app.router.lifespan_context(app):
        await wait_until_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://legacy") as client:
            files = {"audio": ("narrator.wav", voice_wav(seconds=1.5), "audio/wav")}
            added = await client.post("/v1/references/add", data={"id": "Narrator", "text": "Old words."}, files=files)
            assert added.status_code == 200, added.text
            mapping = {"voice_id": "storyteller", "style": "calm", "audio_prompt": "narrator", "primary_speaker": "S2"}
            assert (await client.post("/voice_mappings", json=mapping)).status_code == 200
            assert (await client.put("/config", json={"output_retention_hours": 48.0})).status_code == 200
            submitted = await client.post("/generate?async_mode=true", json={"text": "A finished job."})
            assert submitted.status_code == 200, submitted.text
            job = submitted.json()
            for _ in range(500):
                if (await client.get(f"/jobs/{job['job_id']}")).json()["status"] == "completed":
                    break
                await asyncio.sleep(0.02)
    db = Database.open(data_dir)
    params = options_to_params(SpeechOptions(text="A job still waiting.", voice="alloy", response_format="wav"))
    await JobStore(db).create(PENDING_JOB, "A job still waiting.", params, "wav")
    db.close()
    print(job["job_id"], time.time())


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
