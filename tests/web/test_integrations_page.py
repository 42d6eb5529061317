"""/ui/integrations in Chromium, on a stack of its own (an integration changes where its stack's emails go):
add one, see its secret masked, send a test through it, disable and enable it, edit it with the secret left
masked (kept), delete it; a bad config comes back with the field named and the secret masked."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.api.test_integrations import doubles, own  # noqa: F401 - fixtures of a stack of its own
from tests.conftest import Stack
from tests.vendors.sendgrid import API_KEY, VERIFIED_SENDER, SendGridDouble
from tests.web.conftest import Ui, new_ui


@pytest.fixture
async def own_ui(browser: Browser, own: Stack) -> AsyncIterator[Ui]:  # noqa: F811 - the imported fixture
    ui = await new_ui(browser, own)
    yield ui
    await ui.context.close()
    ui.assert_no_console_errors()


async def test_integrations_are_added_tested_switched_edited_and_deleted_in_the_browser(
        own_ui: Ui, doubles: tuple[SendGridDouble, SendGridDouble]) -> None:  # noqa: F811
    double = doubles[0]
    page = own_ui.page
    await own_ui.login(own_ui.stack.admin_key)
    await page.get_by_role("link", name="Integrations").click()
    await expect(page.get_by_role("heading", name="Integrations", exact=True)).to_be_visible()
    await expect(page.locator("#integration-env-smtp")).to_contain_text("environment")

    await page.get_by_label("Id", exact=True).fill("sg-ui")
    await page.get_by_label("Provider").select_option("sendgrid")
    await page.get_by_label("Config (JSON)").fill(json.dumps({"from": VERIFIED_SENDER, "api_key": "SG.short key"}))
    await page.get_by_role("button", name="Add integration").click()
    await expect(page.get_by_role("alert")).to_contain_text("config.api_key")
    assert "SG.short key" not in await page.content()

    await page.get_by_label("Config (JSON)").fill(json.dumps(
        {"api_key": API_KEY, "from": VERIFIED_SENDER, "base_url": double.base}))
    await page.get_by_role("button", name="Add integration").click()
    await expect(page.get_by_role("status")).to_have_text("sg-ui: added.")
    row = page.locator("#integration-sg-ui")
    await expect(row).to_contain_text("****" + API_KEY[-4:])
    assert API_KEY not in await page.content()

    before = len(double.accepted)
    await row.get_by_label("Test address for sg-ui").fill("ui-test@example.com")
    await row.get_by_role("button", name="Send a test through sg-ui").click()
    await expect(page.get_by_role("status")).to_contain_text("sg-ui: test message sent")
    assert len(double.accepted) == before + 1

    await row.get_by_role("button", name="Disable sg-ui").click()
    await expect(page.locator("#integration-sg-ui .state")).to_have_text("inactive")
    await page.locator("#integration-sg-ui").get_by_role("button", name="Enable sg-ui").click()
    await expect(page.locator("#integration-sg-ui .state")).to_have_text("active")

    await page.get_by_role("link", name="sg-ui").click()
    await expect(page.get_by_label("Config (JSON)")).to_contain_text("****" + API_KEY[-4:])
    await page.get_by_label("Priority").fill("3")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("sg-ui: saved.")
    await expect(page.locator("#integration-sg-ui td").nth(3)).to_have_text("3")
    await page.locator("#integration-sg-ui").get_by_label("Test address for sg-ui").fill("ui-test2@example.com")
    await page.locator("#integration-sg-ui").get_by_role("button", name="Send a test through sg-ui").click()
    await expect(page.get_by_role("status")).to_contain_text("sg-ui: test message sent")  # the key was kept

    await page.locator("#integration-sg-ui").get_by_role("button", name="Delete sg-ui").click()
    await expect(page.get_by_role("status")).to_have_text("sg-ui: deleted.")
    await expect(page.locator("#integration-sg-ui")).to_have_count(0)
    await expect(page).to_have_url(re.compile(r"/ui/integrations"))
