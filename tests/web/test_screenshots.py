"""Every page in a real browser: it renders, loads no script from elsewhere, logs no console error, and works at
375 px without sideways scrolling. With HERALD_SCREENSHOTS_DIR set (`make screenshots`) the PNGs are kept there
for the README; otherwise they go to a temporary directory."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.api.conftest import Api
from tests.web.conftest import new_ui

PHONE = {"width": 375, "height": 800}


async def _demo_data(api: Api) -> dict[str, str]:
    http, h = api.http, api.h
    name = "welcome"
    if (await http.get(f"/v1/templates/{name}", headers=h)).status_code == 404:
        await http.post("/v1/templates", headers=h, json={
            "name": name, "subject": "Welcome, {{ user.name }}", "description": "Sent on sign-up",
            "body": "Hi {{ user.name }}, your workspace {{ workspace }} is ready."})
        await http.put(f"/v1/templates/{name}", headers=h, json={
            "subject": "Welcome aboard, {{ user.name }}", "description": "Sent on sign-up",
            "body": "Hi {{ user.name }}, your workspace {{ workspace }} is ready. Reply if you need help."})
    user_id = await api.user(email="ada@example.com", topics=["product-news"])
    token = (await http.post(f"/v1/users/{user_id}/tokens", headers=h)).json()["token"]
    ids = []
    for i, (sim, priority) in enumerate([("ok", "otp"), ("flaky:1", "transactional"), ("ok", "marketing"),
                                         ("reject", "transactional")]):
        n = await api.send(name, user_id=user_id, channels=["in_app", "sim"], to={"sim": sim}, priority=priority,
                           data={"workspace": f"acme-{i}"})
        ids.append(n["id"])
    await api.until_status(ids[-1], "dead_lettered")
    await api.until_status(ids[0], "delivered")
    schedule = f"monday-news-{user_id[-6:]}"
    r = await http.post("/v1/schedules", headers=h, json={
        "id": schedule, "cron": "0 9 * * MON", "timezone": "Europe/Paris", "template": name,
        "data": {"workspace": "acme"}, "channels": ["in_app"], "audience": {"topic": "weekly-news"}})
    assert r.status_code == 201, r.text
    assert (await http.post(f"/v1/schedules/{schedule}/trigger", headers=h)).status_code == 202
    return {"user_id": user_id, "token": token, "notification": ids[1], "template": name}


def screenshot_dir(default: Path) -> Path:
    out = Path(os.environ.get("HERALD_SCREENSHOTS_DIR") or default)
    out.mkdir(parents=True, exist_ok=True)
    return out


async def test_every_page_renders_cleanly_on_desktop_and_phone(browser: Browser, api: Api, tmp_path: Path) -> None:
    out = screenshot_dir(tmp_path)
    demo = await _demo_data(api)
    admin_pages = {
        "overview": "/ui", "send": f"/ui/send?template={demo['template']}", "templates": "/ui/templates",
        "template-edit": f"/ui/templates/{demo['template']}", "activity": "/ui/notifications",
        "notification": f"/ui/notifications/{demo['notification']}", "dlq": "/ui/dlq", "users": "/ui/users",
        "user-edit": f"/ui/users/{demo['user_id']}", "schedules": "/ui/schedules", "integrations": "/ui/integrations",
    }
    # Every admin page is checked at both widths; at 375 px only the activity log is kept as a PNG.
    for viewport, suffix, keep in ((None, "", set(admin_pages)), (PHONE, "-375", {"activity"})):
        ui = await new_ui(browser, api.stack, viewport=viewport or {"width": 1280, "height": 900})
        await ui.login(api.stack.admin_key)
        for name, path in admin_pages.items():
            await ui.page.goto(path)
            await expect(ui.page.locator("main h1")).to_be_visible()
            if name == "overview":  # the chart has drawn once its data arrived
                await expect(ui.page.locator("#chart-updated")).to_contain_text("updated")
            await _fits(ui.page, viewport)
            if name in keep:
                await ui.page.screenshot(path=str(out / f"{name}{suffix}.png"), full_page=True)
            await _accessible(ui.page)
        await ui.context.close()
        ui.assert_no_console_errors()
    for viewport, suffix in ((None, ""), (PHONE, "-375")):
        ui = await new_ui(browser, api.stack, viewport=viewport or {"width": 1280, "height": 900})
        await ui.login(demo["token"], expect_path="/ui/inbox")
        await expect(ui.page.locator("#inbox-list li")).to_have_count(4)
        await _fits(ui.page, viewport)
        await ui.page.screenshot(path=str(out / f"inbox{suffix}.png"), full_page=True)
        await _accessible(ui.page)
        await ui.context.close()
        ui.assert_no_console_errors()
    ui = await new_ui(browser, api.stack, viewport={"width": 1280, "height": 700})
    await ui.page.goto("/ui/login")
    await ui.page.screenshot(path=str(out / "login.png"))
    await ui.context.close()
    ui.assert_no_console_errors()


async def _fits(page: Page, viewport: dict[str, int] | None) -> None:
    """At phone width the page itself must not scroll sideways (wide tables scroll inside their own box)."""
    if viewport is None:
        return
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width} px wide at {viewport['width']} px"


async def _accessible(page: Page) -> None:
    """Landmarks, one h1, every form control named by a label, and the skip link first in the focus order."""
    for landmark in ("header", "nav", "main"):
        assert await page.locator(landmark).count() >= 1, f"{page.url} has no <{landmark}>"
    assert await page.locator("h1").count() == 1, page.url
    unnamed = await page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.outerHTML)""")
    assert unnamed == [], f"{page.url}: form controls without a label: {unnamed}"
    await page.locator("body").focus()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content", page.url
