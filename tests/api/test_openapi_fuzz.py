"""Schemathesis over /openapi.json against a real server: no 5xx, and every response matches the schema.

Runs the schemathesis CLI (its pytest plugin does not support this pytest) against a real uvicorn server
whose Whisper is a tiny working checkpoint, so no route has a reason to answer 5xx.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, make_settings, uvicorn_server

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    pytest.importorskip("whisper", reason="the whisper extra is not installed (pip install 'tts-server[whisper]')")
    from tests.whisper.conftest import build_hello_checkpoint

    data_dir = tmp_path_factory.mktemp("fuzz")
    checkpoint = data_dir / "tiny-hello.pt"
    build_hello_checkpoint(checkpoint)
    with uvicorn_server(make_settings(data_dir, whisper_model=str(checkpoint))) as server:
        yield server


def test_every_operation_conforms(fuzz_server: LiveServer, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{fuzz_server.url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        "10",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "60",
        # Changing runtime config (worker counts, rate limits) mid-run would test another server.
        "--exclude-method",
        "PUT",
        "--exclude-path",
        "/config",
        "--suppress-health-check",
        "all",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
