"""Friendly limits over real HTTP: clients on this machine are exempt by default, network clients keep the
Dia spec's limits, and a reverse proxy on this host never turns its remote clients into local ones."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.conftest import LiveServer, make_settings, uvicorn_server
from tts_server.settings import Settings

DEFAULT_EXEMPT = Settings.model_fields["rate_limit_exempt"].default
LIMITED: dict[str, Any] = {"rate_limit_enabled": True, "rate_limit_generate": "2/minute"}
SPEECH = {"input": "Hi.", "response_format": "pcm"}


def _outward_address() -> str | None:
    """This machine's address on its network (not loopback), or None when it has none. A UDP connect sends
    nothing: it only asks the kernel which source address the route would use."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = sock.getsockname()[0]
    return None if address.startswith("127.") else address


OUTWARD = _outward_address()
needs_network_address = pytest.mark.skipif(OUTWARD is None, reason="this machine has no non-loopback address")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    """`serve(**settings)` starts a real uvicorn server listening on every interface."""
    servers: list[Any] = []

    def serve(**overrides: Any) -> LiveServer:
        settings = make_settings(tmp_path / f"data{len(servers)}", **{**LIMITED, **overrides})
        settings.data_dir.mkdir()
        context = uvicorn_server(settings, host="0.0.0.0")
        servers.append(context)
        return context.__enter__()

    yield serve
    for context in reversed(servers):
        context.__exit__(None, None, None)


def _statuses(url: str, count: int, headers: dict[str, str] | None = None) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return [client.post("/v1/audio/speech", json=SPEECH, headers=headers).status_code for _ in range(count)]


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@needs_network_address
def test_loopback_is_exempt_by_default_and_network_clients_are_limited(server_factory: Any) -> None:
    server = server_factory(rate_limit_exempt=DEFAULT_EXEMPT)
    with httpx.Client(base_url=server.url, timeout=30) as local:
        answers = [local.post("/v1/audio/speech", json=SPEECH) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert all("X-RateLimit-Limit" not in answer.headers for answer in answers)  # not counted at all
    remote_url = f"http://{OUTWARD}:{_port(server)}"  # the same server, reached over the network interface
    with httpx.Client(base_url=remote_url, timeout=30) as remote:
        first = remote.post("/v1/audio/speech", json=SPEECH)
        assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "2"
        assert remote.post("/v1/audio/speech", json=SPEECH).status_code == 200
        refused = remote.post("/v1/audio/speech", json=SPEECH)
    assert refused.status_code == 429 and refused.json()["error_code"] == "RATE_LIMITED"


def test_a_trusted_proxy_on_this_host_forwards_remote_clients_as_remote(server_factory: Any) -> None:
    server = server_factory(rate_limit_exempt=DEFAULT_EXEMPT, trusted_proxies="127.0.0.1")
    remote_client = {"X-Forwarded-For": "203.0.113.7"}
    assert _statuses(server.url, 3, remote_client) == [200, 200, 429]
    # a person on this machine going through the same proxy is still exempt
    assert _statuses(server.url, 4, {"X-Forwarded-For": "127.0.0.1"}) == [200] * 4
    # and another remote client has limits of its own
    assert _statuses(server.url, 3, {"X-Forwarded-For": "198.51.100.4"}) == [200, 200, 429]


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_forwarded_requests_from_an_untrusted_proxy_are_never_exempt(server_factory: Any, header: str) -> None:
    """A reverse proxy on this host left out of TTS_TRUSTED_PROXIES: its clients could be anyone, so they count
    (as the proxy's own address, since its header is not believed) instead of passing as local."""
    server = server_factory(rate_limit_exempt=DEFAULT_EXEMPT)
    value = "for=203.0.113.7" if header == "Forwarded" else "203.0.113.7"
    assert _statuses(server.url, 3, {header: value}) == [200, 200, 429]
    assert _statuses(server.url, 1) == [200]  # direct local requests are still exempt


@needs_network_address
def test_the_exempt_list_replaces_the_default(server_factory: Any) -> None:
    server = server_factory(rate_limit_exempt=f"{OUTWARD}/32")
    assert _statuses(f"http://{OUTWARD}:{_port(server)}", 4) == [200] * 4
    assert _statuses(server.url, 3) == [200, 200, 429]  # loopback is limited once it is not listed


def test_empty_exempt_list_limits_everyone(server_factory: Any) -> None:
    server = server_factory(rate_limit_exempt="")
    assert _statuses(server.url, 3) == [200, 200, 429]


def test_exempt_entries_must_be_addresses_or_networks() -> None:
    assert make_settings(Path("."), rate_limit_exempt=" 10.0.0.0/8 , ::1,192.168.1.5").rate_limit_exempt_list == [
        "10.0.0.0/8",
        "::1",
        "192.168.1.5",
    ]
    with pytest.raises(ValidationError, match="localhost"):
        make_settings(Path("."), rate_limit_exempt="127.0.0.1/8,localhost")
    assert Settings(_env_file=None).rate_limit_exempt == "127.0.0.1/8,::1"
