"""The playground in a real browser (Debian's chromium through Playwright) against a real uvicorn server on
the built-in engine: it loads cleanly, speaks (streamed and whole), runs a job to the end, manages the
voice library, and asks for the API key when the server wants one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, make_settings, uvicorn_server
from tests.store.conftest import voice_wav
from tests.ui.browser import TIMEOUT_MS, Playground, require_chromium
from tests.ui.conftest import OpenPlayground

require_chromium()  # skips the module, saying why, where there is no chromium or no Playwright

from playwright.sync_api import expect  # noqa: E402

LONG_TEXT = " ".join(f"This is sentence number {n} of a long text read as a job." for n in range(1, 61))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with uvicorn_server(make_settings(tmp_path_factory.mktemp("ui"))) as server:
        yield server


@pytest.fixture
def playground(open_playground: OpenPlayground, server: LiveServer) -> Playground:
    return open_playground(server.url)


def test_page_loads_with_no_console_error(playground: Playground, server: LiveServer) -> None:
    page = playground.page
    expect(page.locator("#health")).to_have_attribute("data-status", "healthy")
    expect(page.locator("#engine")).to_have_value("espeak")
    expect(page.locator("#engine option", has_text="espeak")).to_have_text("espeak (default)")
    expect(page.locator("#voice")).to_have_value("espeak/default")
    expect(playground.log_row("GET /v1/models").locator("td").nth(1)).to_have_text("200")
    assert page.locator("#key-panel").is_hidden()  # no key is needed here
    assert page.locator("#speak-error").is_hidden()
    assert playground.unlabelled_controls() == []
    assert playground.errors == []


@pytest.mark.parametrize(
    ("response_format", "stream", "playback"),
    [("mp3", True, "progressive"), ("wav", False, "whole"), ("opus", True, "whole"), ("pcm", False, "whole")],
)
def test_speak_plays_audio(playground: Playground, response_format: str, stream: bool, playback: str) -> None:
    page = playground.page
    page.locator("#format").select_option(response_format)
    page.locator("#stream").set_checked(stream)
    with page.expect_request(re.compile(r"/generate$")) as sent:
        playground.speak()
    body = sent.value.post_data_json
    assert body["stream"] is stream and body["model"] == "espeak" and body["response_format"] == response_format
    duration = playground.wait_for_playback()
    assert 2 < duration < 30  # the default sentence
    assert page.locator("#player").get_attribute("data-playback") == playback
    expect(page.locator("#stat-engine")).to_have_text("espeak")
    expect(page.locator("#stat-ttfb")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
    expect(page.locator("#stat-total")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s$"))
    expect(page.locator("#download")).to_have_attribute("download", f"speech.{response_format}")
    row = playground.log_row("POST /generate")
    expect(row.locator("td").nth(1)).to_have_text("200")
    expect(row.locator("td").nth(3)).to_have_text(re.compile(r"\d"))
    assert playground.errors == []


def test_a_job_reaches_100_percent_and_its_result_plays(playground: Playground) -> None:
    page = playground.page
    page.locator("#text").fill(LONG_TEXT)
    page.locator("#format").select_option("mp3")
    page.evaluate(
        """() => {  // every value the progress bar shows, to see it move
            window.progressSeen = [];
            new MutationObserver(() => {
                const bar = document.querySelector("#job-list progress");
                if (bar) window.progressSeen.push(bar.value);
            }).observe(document.getElementById("job-list"), {subtree: true, childList: true, attributes: true,
                                                            characterData: true});
        }"""
    )
    playground.button("Run as job").click()
    job = page.locator("#job-list li").first
    expect(job.locator("progress")).to_have_js_property("value", 100, timeout=TIMEOUT_MS)
    expect(job.locator(".job-percent")).to_have_text("100%")
    expect(job.locator(".job-stage")).to_have_text("completed")
    duration = playground.wait_for_playback("#job-list li audio")
    assert duration > 20  # sixty sentences
    expect(job.get_by_role("link", name="Download mp3")).to_have_attribute("download", re.compile(r"^job-[\w-]+\.mp3$"))
    seen = page.evaluate("window.progressSeen")
    assert seen[-1] == 100 and any(0 < value < 100 for value in seen), seen
    expect(playground.log_row("WS /ws/generate").locator("td").nth(1)).to_have_text("completed")
    expect(playground.log_row("GET /jobs/").locator("td").nth(1)).to_have_text("200")
    assert playground.unlabelled_controls() == []
    assert playground.errors == []


def test_an_upload_appears_in_the_library_and_speaks(playground: Playground, tmp_path: Path) -> None:
    page = playground.page
    clip = tmp_path / "anna.wav"
    clip.write_bytes(voice_wav(seconds=3.0))
    page.locator("#prompt-id").fill("anna")
    page.locator("#prompt-file").set_input_files(str(clip))
    page.locator("#prompt-transcript").fill("Hello, this is Anna.")
    playground.button("Upload").click()
    expect(page.locator("#upload-result")).to_contain_text("anna")
    expect(page.locator("#prompt-id")).to_have_value("")  # the form is ready for the next one
    item = page.locator("#reference-list li[data-voice=anna]")
    expect(item).to_contain_text("3.0 s")
    expect(item.get_by_role("textbox", name="Transcript of anna")).to_have_value("Hello, this is Anna.")
    expect(page.locator("#voice")).to_have_value("reference/anna")  # the new voice is selected
    expect(page.locator("#voice option:checked")).to_have_text("★ anna (reference)")

    with page.expect_request(re.compile(r"/generate$")) as sent:
        playground.speak()
    assert sent.value.post_data_json["voice_id"] == "anna"
    playground.wait_for_playback()
    expect(page.locator("#stat-engine")).to_have_text("espeak")

    item.get_by_role("button", name="Play anna", exact=True).click()
    assert abs(playground.wait_for_playback("#library-player") - 3.0) < 0.1
    assert playground.unlabelled_controls() == []  # the list's own controls too
    assert playground.errors == []


def test_the_library_edits_a_transcript_and_deletes_a_voice(
    playground: Playground, server: LiveServer, tmp_path: Path
) -> None:
    clip = voice_wav(seconds=2.0)
    httpx.post(
        f"{server.url}/audio_prompts/upload", data={"prompt_id": "bob"}, files={"audio_file": ("b.wav", clip)}
    ).raise_for_status()
    page = playground.page
    page.reload()
    item = page.locator("#reference-list li[data-voice=bob]")
    item.get_by_role("textbox", name="Transcript of bob").fill("Bob says hello.")
    item.get_by_role("button", name="Save the transcript of bob").click()
    expect(item.get_by_role("textbox", name="Transcript of bob")).to_have_value("Bob says hello.")
    expect(item).to_contain_text("transcript: manual")
    assert httpx.get(f"{server.url}/audio_prompts/metadata/bob").json()["transcript"] == "Bob says hello."

    delete = item.get_by_role("button", name="Delete bob")
    delete.click()
    expect(delete).to_have_text("Really delete?")  # asks once more
    delete.click()
    expect(item).to_have_count(0)
    expect(page.locator("#voice option[value='reference/bob']")).to_have_count(0)
    assert httpx.get(f"{server.url}/audio_prompts/metadata/bob").status_code == 404
    assert playground.errors == []


def test_a_voice_mapping_is_created_used_and_deleted(
    playground: Playground, server: LiveServer, tmp_path: Path
) -> None:
    httpx.post(
        f"{server.url}/audio_prompts/upload",
        data={"prompt_id": "carol"},
        files={"audio_file": ("c.wav", voice_wav(seconds=2.0, f0=220.0))},
    ).raise_for_status()
    page = playground.page
    page.reload()
    page.locator("#mapping-id").fill("narrator")
    page.locator("#mapping-prompt").select_option("carol")
    page.locator("#mapping-style").fill("calm")
    page.locator("#mapping-speaker").select_option("S2")
    playground.button("Save mapping").click()
    item = page.locator("#mapping-list li[data-voice=narrator]")
    expect(item).to_contain_text("calm · speaker S2 · reference carol")
    assert playground.unlabelled_controls() == []
    mapped = page.locator("#voice optgroup[label='Voice mappings'] option", has_text="narrator")
    expect(mapped).to_have_count(1)
    page.locator("#voice").select_option("mapping/narrator")
    with page.expect_request(re.compile(r"/generate$")) as sent:
        playground.speak()
    assert sent.value.post_data_json["voice_id"] == "narrator"
    playground.wait_for_playback()

    item.get_by_role("button", name="Delete mapping narrator").click()
    item.get_by_role("button", name="Delete mapping narrator").click()
    expect(item).to_have_count(0)
    expect(mapped).to_have_count(0)
    assert httpx.get(f"{server.url}/v1/voice_mappings").json() == []
    assert playground.errors == []


def test_pickers_and_sampling_controls_follow_the_api(playground: Playground, server: LiveServer) -> None:
    page = playground.page
    models = httpx.get(f"{server.url}/v1/models").json()["data"]
    engines = [card["id"] for card in models if card["engine"] == card["id"]]
    assert page.locator("#engine option").evaluate_all("options => options.map(o => o.value)") == engines
    builtins = [v["voice_id"] for v in httpx.get(f"{server.url}/v1/voices").json()["voices"] if v["type"] == "builtin"]
    listed = page.locator("#voice optgroup[label='espeak voices'] option")
    assert listed.evaluate_all("options => options.map(o => o.value)") == [f"espeak/{v}" for v in builtins]
    expect(page.locator("#sampling")).to_be_hidden()  # espeak honours no sampling field
    page.locator("#voice").select_option("espeak/en-gb")
    with page.expect_request(re.compile(r"/generate$")) as sent:
        playground.speak()
    body = sent.value.post_data_json
    assert body["voice_id"] == "en-gb" and body["model"] == "espeak"
    assert not {"temperature", "top_p", "top_k", "cfg_scale", "seed", "max_tokens"} & set(body)
    playground.wait_for_playback()
    assert playground.errors == []


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with uvicorn_server(make_settings(tmp_path_factory.mktemp("ui-key"), api_key="sesame")) as server:
        yield server


def test_a_401_asks_for_the_key_then_everything_works(
    keyed_server: LiveServer, open_playground: OpenPlayground
) -> None:
    playground = open_playground(keyed_server.url)
    page = playground.page
    expect(page.locator("#key-panel")).to_be_visible()
    expect(page.locator("#api-key")).to_be_focused()
    expect(page.locator("#speak-error")).to_contain_text("Error 401 (UNAUTHORIZED)")
    expect(playground.log_row("GET /v1/models").locator("td").nth(1)).to_have_text("401")
    # the browser reports each refused request on its console; nothing else may appear there
    assert playground.errors and all("401" in error for error in playground.errors), playground.errors
    playground.errors.clear()
    playground.screenshot("test_a_401_asks_for_the_key-asked")

    page.locator("#api-key").fill("sesame")
    playground.button("Save key").click()
    expect(page.locator("#engine")).to_have_value("espeak")
    expect(page.locator("#speak-error")).to_be_hidden()
    playground.speak()
    playground.wait_for_playback()

    page.locator("#text").fill(LONG_TEXT)
    playground.button("Run as job").click()  # the WebSocket takes the key as ?api_key=
    job = page.locator("#job-list li").first
    expect(job.locator(".job-stage")).to_have_text("completed", timeout=TIMEOUT_MS)
    playground.wait_for_playback("#job-list li audio")
    assert playground.errors == []

    page.reload()  # the key stays in this browser
    expect(page.locator("#engine")).to_have_value("espeak")
    expect(page.locator("#speak-error")).to_be_hidden()
