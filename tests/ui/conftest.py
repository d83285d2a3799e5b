"""Browser fixtures: one chromium per test module, a fresh browser context (no saved key) per page, and a
screenshot of every page when its test ends (tests/ui/screenshots/, git-ignored)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.ui.browser import TIMEOUT_MS, Playground, launched_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser

OpenPlayground = Callable[[str], Playground]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as browser:
        from playwright.sync_api import expect

        expect.set_options(timeout=TIMEOUT_MS)  # every expect waits as long as a busy machine may need
        yield browser


@pytest.fixture
def open_playground(browser: Browser, request: pytest.FixtureRequest) -> Iterator[OpenPlayground]:
    """`open_playground(server.url)`: the page loaded in a new browser context, watched for errors."""
    opened: list[Playground] = []

    def open_page(base_url: str) -> Playground:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        playground = Playground(context.new_page(), base_url)
        playground.watch()
        opened.append(playground)
        playground.open()
        return playground

    yield open_page
    for index, playground in enumerate(opened):
        suffix = f"-{index + 1}" if len(opened) > 1 else ""
        playground.screenshot(f"{request.node.name}{suffix}")
        playground.page.context.close()
