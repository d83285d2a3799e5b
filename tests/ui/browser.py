"""Driving the playground in Debian's chromium through Playwright: launching it, opening the page on a live
server, watching the console, and the checks the browser tests share (audio that really plays)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in containers, where chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]  # no --autoplay-policy flag: every playback follows a click, as for a user, so the default policy allows it
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 60_000  # generous: the machine running the suite may be busy


def require_chromium() -> None:
    """Skips the calling test module, saying what is missing, unless Playwright and chromium are both here."""
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium (scripts/test.sh does, as root with apt)"
        pytest.skip(reason, allow_module_level=True)


@contextlib.contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Chromium under Playwright, or a skip saying what is missing."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Playground:
    """One browser page on the playground, with every console error and failed response it saw."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)  # URLs of requests the browser ended itself

    def watch(self) -> None:
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("requestfailed", self._request_failed)

    def _request_failed(self, request: Any) -> None:
        # net::ERR_ABORTED is the browser ending a request itself, never the server failing one: a media element
        # stops a download it does not need yet (Chromium defers the rest of a clip once it can play), and once,
        # on a loaded machine, a fetch of a reference voice was reported aborted after the page had read its
        # body and played all 3.0 s of it. What a user would see of a real failure (an error shown, nothing
        # played) the tests check themselves; the aborts are kept apart for a test that wants them.
        if request.failure == "net::ERR_ABORTED":
            self.aborted.append(request.url)
            return
        self.errors.append(f"request failed: {request.url} ({request.failure})")

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"console {message.type}: {message.text}")

    def open(self) -> None:
        """Loads the page and waits until it has asked the API for engines, voices and the library."""
        from playwright.sync_api import expect

        self.page.goto(f"{self.base_url}/")
        expect(self.page.locator("body")).to_have_attribute("data-ready", "yes", timeout=TIMEOUT_MS)

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)  # exact: "espeak" contains "speak"

    def speak(self) -> None:
        self.button("Speak").click()

    def wait_for_playback(self, player: str = "#player") -> float:
        """Waits until `player` holds audio of a finite, positive length that has begun to play; its length."""
        self.page.wait_for_function(
            """(selector) => {
                const player = document.querySelector(selector);
                return player && Number.isFinite(player.duration) && player.duration > 0 && player.currentTime > 0;
            }""",
            arg=player,
            timeout=TIMEOUT_MS,
        )
        duration: float = self.page.eval_on_selector(player, "player => player.duration")
        return duration

    def log_row(self, request: str) -> Locator:
        """The newest row of the request log for `request` ("POST /generate")."""
        return self.page.locator("#request-log tr", has_text=re.compile(f"^{re.escape(request)}")).first

    def unlabelled_controls(self) -> list[str]:
        """Form controls and buttons a screen reader could not name (no label, aria-label or text)."""
        unnamed: list[str] = self.page.evaluate(
            """() => [...document.querySelectorAll("input, select, textarea, button, progress, audio, a[href]")]
                .filter((node) => !(node.labels?.length || node.getAttribute("aria-label")
                                     || node.getAttribute("aria-labelledby")
                                     || (["BUTTON", "A"].includes(node.tagName) && node.textContent.trim())))
                .map((node) => node.outerHTML.slice(0, 120))"""
        )
        return unnamed

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{_file_name(name)}.png"), full_page=True)


def _file_name(test_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-")
