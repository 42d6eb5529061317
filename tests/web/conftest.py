"""Browser tests: Playwright for Python driving Debian's Chromium against the session's real stack."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.api.conftest import api as api  # the API helper fixture, for tests that set data up by API
from tests.conftest import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
expect.set_options(timeout=20_000)


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"browser tests need Chromium at {CHROMIUM}: run `apt-get install -y chromium` "
                    "(.ci/run does it when it is missing); Playwright's own browser download is not used")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Ui:
    """One browser context (its own cookies) with every console error and page error collected."""

    context: BrowserContext
    page: Page
    stack: Stack
    errors: list[str] = field(default_factory=list)

    async def login(self, key: str, expect_path: str = "/ui") -> None:
        await self.page.goto("/ui/login")
        await self.page.get_by_label("API key or user token").fill(key)
        await self.page.get_by_role("button", name="Log in").click()
        await expect(self.page).to_have_url(re.compile(re.escape(self.stack.base_url + expect_path) + r"(\?.*)?$"))

    def assert_no_console_errors(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"


async def new_ui(browser: Browser, stack: Stack, **context_options: Any) -> Ui:
    context = await browser.new_context(base_url=stack.base_url, **context_options)
    page = await context.new_page()
    ui = Ui(context, page, stack)
    page.on("console", lambda message: ui.errors.append(f"{page.url}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda exc: ui.errors.append(f"{page.url}: {exc}"))
    return ui


@pytest.fixture
async def ui(browser: Browser, stack: Stack) -> AsyncIterator[Ui]:
    ui = await new_ui(browser, stack)
    yield ui
    await ui.context.close()
    ui.assert_no_console_errors()
