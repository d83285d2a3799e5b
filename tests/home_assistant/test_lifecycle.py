"""The Wyoming server's life: off unless TTS_WYOMING_PORT is set, on TTS_HOST only, a clear failure when its port
is taken, and at shutdown every connection ended and its work stopped."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from wyoming.tts import Synthesize

from tests.conftest import make_settings, running_app
from tests.home_assistant.conftest import SENTENCES, WyomingFactory, read_until, synthesize
from tests.home_assistant.test_wyoming import NeverFinishes
from tests.ops.test_ratelimit_exempt import OUTWARD, needs_network_address
from tts_server.__main__ import load_settings, parse_args
from tts_server.app import create_app
from tts_server.runtime.runners.base import RunnerState


async def test_off_unless_a_port_is_set(data_dir: Path) -> None:
    async with running_app(make_settings(data_dir)) as client:
        app = client._transport.app  # type: ignore[attr-defined]
        assert app.state.tts.wyoming is None
    assert make_settings(data_dir, wyoming_port="").wyoming_port is None  # .env.example's empty value


async def test_a_taken_port_fails_the_start_saying_so(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = create_app(make_settings(data_dir, wyoming_port=port))
        with pytest.raises(OSError, match=f"Wyoming server cannot listen on 127.0.0.1:{port}"):
            async with app.router.lifespan_context(app):
                pass
    # what had started before stops again: no engine worker is left behind
    assert [runner.state for runner in app.state.tts.engines] == [RunnerState.STOPPED]


@needs_network_address
async def test_it_listens_on_the_host_setting_only(wyoming_factory: WyomingFactory) -> None:
    assert OUTWARD is not None
    async with wyoming_factory(host="127.0.0.1") as served:
        with pytest.raises(ConnectionRefusedError):
            async with served.client(OUTWARD):
                pass
    async with wyoming_factory(host="0.0.0.0") as served, served.client(OUTWARD) as client:
        answer = await synthesize(client, SENTENCES[0])
    assert answer.errors == [] and answer.seconds > 1.0


async def test_shutdown_ends_connections_and_stops_their_work(wyoming_factory: WyomingFactory) -> None:
    app_context = wyoming_factory()
    served = await app_context.__aenter__()
    running = True
    client = served.client()
    try:
        await client.connect()
        with NeverFinishes(served) as hook:
            await client.write_event(Synthesize(text=SENTENCES[0]).event())
            await read_until(client, "audio-chunk")
            running = False
            await app_context.__aexit__(None, None, None)  # the lifespan ends with the client still connected
            assert await asyncio.to_thread(hook.closed.wait, 30), "the synthesis outlived the server"
        rest = []
        while (event := await client.read_event()) is not None:  # audio sent before the end, then closed
            rest.append(event.type)
        assert set(rest) <= {"audio-chunk"}  # cut off: no audio-stop for audio that was never finished
    finally:
        await client.disconnect()
        if running:
            await app_context.__aexit__(None, None, None)


def test_cli_flag_sets_the_port() -> None:
    assert load_settings(parse_args(["--wyoming-port", "10200"])).wyoming_port == 10200
