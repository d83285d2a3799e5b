"""One real uvicorn server for the module with the CPU voices: Kokoro (the real v1.0 int8 model and five
Japanese voices) as the default, Piper's bundled voice, espeak. One worker each: every worker holds a model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, uvicorn_server, wait_until_engines_settle
from tests.support.kokoro_model import release_folder


@pytest.fixture(scope="module")
def cpu_voices_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    kokoro = release_folder(tmp_path_factory.mktemp("kokoro"))
    settings = make_settings(
        tmp_path_factory.mktemp("cpu-voices-data"),
        provider="auto",
        engine_preference="dia,kokoro,piper,espeak",
        kokoro_model=str(kokoro),
        dia_model=str(kokoro / "no-dia"),
        onnx_workers=1,
        workers=1,
    )
    with uvicorn_server(settings) as server:
        wait_until_engines_settle(server.url)
        yield server


@pytest.fixture
async def http(cpu_voices_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cpu_voices_server.url, timeout=120) as client:
        yield client
