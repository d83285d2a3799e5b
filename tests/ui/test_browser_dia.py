"""The playground with two engines (a tiny random Dia by default, espeak beside it, through a real uvicorn
server): the pickers list both, the sampling controls are those the selected engine honours, a built-in voice
brings its engine along, and Speak sends the chosen engine and sampling to the server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, uvicorn_server
from tests.ui.browser import Playground, require_chromium
from tests.ui.conftest import OpenPlayground

require_chromium()  # skips the module, saying why, where there is no chromium or no Playwright
pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from tests.dia_http.conftest import dia_settings  # noqa: E402  (imports torch)
from tests.engines.dia.tiny_models import save_tiny_dia  # noqa: E402

DIA_SAMPLING = ["temperature", "top_p", "top_k", "cfg_scale", "max_new_tokens", "seed"]  # in the page's order


@pytest.fixture(scope="module")
def dia_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Dia (tiny, random, loaded offline through the real loading code) and espeak in one server."""
    folders = save_tiny_dia(tmp_path_factory.mktemp("ui-tiny-dia"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny models gain nothing from more, and a busy machine punishes them
        try:
            with uvicorn_server(dia_settings(tmp_path_factory.mktemp("ui-dia"), folders)) as server:
                yield server
        finally:
            torch.set_num_threads(threads)


@pytest.fixture
def playground(open_playground: OpenPlayground, dia_server: LiveServer) -> Playground:
    return open_playground(dia_server.url)


def _shown_sampling(playground: Playground) -> list[str]:
    fields = playground.page.locator("#sampling [data-param]")
    shown: list[str] = fields.evaluate_all("fields => fields.filter(f => !f.hidden).map(f => f.dataset.param)")
    return shown


def test_pickers_list_both_engines_and_their_voices(playground: Playground, dia_server: LiveServer) -> None:
    page = playground.page
    expect(page.locator("#engine")).to_have_value("dia")
    cards = httpx.get(f"{dia_server.url}/v1/models").json()["data"]
    engines = [card["id"] for card in cards if card["engine"] == card["id"]]  # in the API's order
    assert sorted(engines) == ["dia", "espeak"]
    labels = page.locator("#engine option").evaluate_all("options => options.map(o => o.textContent)")
    assert labels == [f"{engine} (default)" if engine == "dia" else engine for engine in engines]
    for engine in ("dia", "espeak"):
        listing = httpx.get(f"{dia_server.url}/v1/voices", params={"engine": engine}).json()["voices"]
        builtins = [f"{engine}/{voice['voice_id']}" for voice in listing if voice["type"] == "builtin"]
        group = page.locator(f"#voice optgroup[label='{engine} voices'] option")
        assert group.evaluate_all("options => options.map(o => o.value)") == builtins
    assert playground.errors == []


def test_sampling_controls_are_those_the_selected_engine_honours(playground: Playground) -> None:
    page = playground.page
    expect(page.locator("#sampling")).to_be_visible()
    expect(page.locator("#sampling-engine")).to_have_text("(dia)")
    assert _shown_sampling(playground) == DIA_SAMPLING  # Dia has no repetition penalty

    page.locator("#voice").select_option("espeak/en-gb")  # an espeak voice brings its engine along
    expect(page.locator("#engine")).to_have_value("espeak")
    expect(page.locator("#sampling")).to_be_hidden()

    page.locator("#engine").select_option("dia")  # and back: the voice follows, to one Dia speaks
    expect(page.locator("#voice")).to_have_value(re.compile(r"^dia/"))
    expect(page.locator("#sampling")).to_be_visible()
    assert playground.errors == []


def test_speak_sends_the_engine_and_the_sampling_it_honours(playground: Playground) -> None:
    page = playground.page
    page.locator("#text").fill("Hello.")
    page.locator("#voice").select_option("dia/aria")
    page.locator("#format").select_option("wav")
    page.locator("#stream").set_checked(False)
    page.locator("#top_k").fill("7")
    page.locator("#seed").fill("42")
    page.locator("#cfg_scale").fill("2.5")
    with page.expect_request(re.compile(r"/generate$")) as sent:
        playground.speak()
    body = sent.value.post_data_json
    assert body["model"] == "dia" and body["voice_id"] == "aria"
    assert (body["top_k"], body["seed"], body["cfg_scale"]) == (7, 42, 2.5)
    assert "temperature" not in body  # left empty: the engine's default
    playground.wait_for_playback()
    expect(page.locator("#stat-engine")).to_have_text("dia")

    page.locator("#voice").select_option("espeak/en-gb")
    with page.expect_request(re.compile(r"/generate$")) as sent:
        playground.speak()
    body = sent.value.post_data_json
    assert body["model"] == "espeak" and not {"top_k", "seed", "cfg_scale"} & set(body)  # hidden: not sent
    playground.wait_for_playback()
    expect(page.locator("#stat-engine")).to_have_text("espeak")
    assert playground.errors == []
