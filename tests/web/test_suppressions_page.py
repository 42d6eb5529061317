"""The suppressions page in Chromium: suppress an address, see the next send to it skipped, find it by any
spelling, and remove it so that the next send goes out."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from tests.api.conftest import Api
from tests.web.conftest import Ui


async def test_an_address_is_suppressed_found_and_removed_from_the_page(ui: Ui, api: Api) -> None:
    address = f"page-{uuid.uuid4().hex[:8]}@example.com"
    page = ui.page
    await ui.login(ui.stack.admin_key)
    await page.get_by_role("link", name="Suppressions").click()
    await page.get_by_label("Address", exact=True).first.fill(address.upper())
    await page.get_by_label("Reason", exact=True).fill("asked by phone")
    await page.get_by_role("button", name="Suppress", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text(f"{address} (email) is suppressed.")
    row = page.locator("tr", has_text=address)
    await expect(row).to_contain_text("dashboard")
    await expect(row).to_contain_text("asked by phone")

    template = await api.template()
    skipped = await api.send(template, to={"email": address}, channels=["email"])
    done = await api.until_status(skipped["id"], "skipped")
    assert "asked by phone" in done["timeline"][-1]["detail"]

    # The filter finds it by another spelling; a bad phone number is explained, not a crash.
    await page.locator("#f-address").fill(address.title())
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await page.locator("#f-filter-channel").select_option("sms")
    await page.locator("#f-address").fill("not a number")
    await page.get_by_role("button", name="Filter", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("phone number")

    await page.goto(f"/ui/suppressions?channel=email&address={address}")
    await page.get_by_role("button", name=f"Remove the suppression of {address}").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{address} (email) is no longer suppressed.")
    await expect(page.locator("tr", has_text=address)).to_have_count(0)
    sent = await api.send(template, to={"email": address}, channels=["email"])
    await api.until_status(sent["id"], "delivered")
