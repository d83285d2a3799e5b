"""Clients that reset the connection mid-stream, against a real server process.

mp3/opus/aac/flac are encoded in a worker thread; closing the codec under that thread crashed libavformat and
took the whole server down (a segfault: only a separate process shows it without killing the test run).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TEXT = " ".join(f"This is sentence number {n} of a long streamed reading." for n in range(70))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {**os.environ, "TTS_PROVIDER": "espeak", "TTS_RATE_LIMIT_ENABLED": "false", "TTS_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "tts_server", "--port", str(port), "--data-dir", str(tmp_path)]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield process, base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        assert process.poll() is None, "server exited during start-up"
        try:
            if httpx.get(f"{base}/health", timeout=2).json()["status"] == "healthy":
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise TimeoutError("server did not become healthy")


def _stream_then_reset(port: int, fmt: str, seconds: float) -> None:
    """Read a streamed response for a while, then drop the connection with a TCP reset, as curl -m does."""
    body = json.dumps({"input": TEXT, "response_format": fmt, "stream": True}).encode()
    head = f"POST /v1/audio/speech HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode() + body)
        sock.settimeout(0.02)
        leave_at = time.monotonic() + seconds
        while time.monotonic() < leave_at:
            with contextlib.suppress(TimeoutError):
                sock.recv(65536)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_resets_mid_stream_leave_the_server_running(server_process: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base = server_process
    port = int(base.rsplit(":", 1)[1])
    for attempt in range(24):
        _stream_then_reset(port, ("mp3", "opus", "aac", "flac")[attempt % 4], 0.05 + 0.02 * (attempt % 8))
    time.sleep(0.5)
    assert process.poll() is None, f"server died (exit code {process.returncode})"
    assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "healthy"
    follow_up = httpx.post(
        f"{base}/v1/audio/speech", json={"input": "Still here.", "response_format": "mp3"}, timeout=30
    )
    assert follow_up.status_code == 200
