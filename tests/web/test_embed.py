"""`<herald-inbox>` in Chromium, embedded in a customer's page served from another origin than the API's."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from playwright.async_api import Browser, Locator, Page, Route, expect

from tests.api.conftest import Api
from tests.api.test_status_webhooks import Hook
from tests.conftest import INBOX_HOST_PORT, INBOX_HOST_SOCKET, INBOX_ORIGIN, Stack
from tests.web.conftest import Ui, new_ui
from tests.web.test_screenshots import PHONE, screenshot_dir

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# axe-core 4.10.3 from the npm registry: package/axe.min.js of the tarball whose sha256 is
# 0f2b4d7dcdf7d1219df8d1959ad68e565f51d14c3f0d88bb71cd59abeb956292.
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"
SCRIPT_BUDGET_GZIPPED = 50 * 1024


class _HostPage(BaseHTTPRequestHandler):
    """A customer's page: `/?api=&user=&token=&lang=` embeds the element with those attributes."""

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        api, attrs = query.get("api", ""), {k: query.get(k, "") for k in ("user", "token")}
        element = "<herald-inbox " + " ".join(f'{k}="{html.escape(v)}"' for k, v in
                                              {"api": api, **attrs}.items()) + "></herald-inbox>"
        body = (f'<!doctype html><html lang="{html.escape(query.get("lang", "en"))}"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme</title></head>'
                '<body style="font-family: sans-serif; margin: 0">'
                '<header style="display:flex;justify-content:space-between;align-items:center;padding:8px 16px;'
                f'background:#f3f4f6"><span>Acme orders</span>{element}</header>'
                '<main style="padding:16px"><h1>Your orders</h1><p>Order 42 ships tomorrow.</p></main>'
                f'<script src="{html.escape(api)}/ui/embed/herald-inbox.js"></script></body></html>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def host_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", INBOX_HOST_PORT), _HostPage, bind_and_activate=False)
    server.socket.close()
    server.socket = INBOX_HOST_SOCKET  # bound and listening since the session began
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield INBOX_ORIGIN
    server.shutdown()


class Embedded:
    """One user with a token, and pages of the host origin that embed the element for them."""

    def __init__(self, api: Api, browser: Browser, host: str, user_id: str, token: str):
        self.api, self.browser, self.host, self.user_id, self.token = api, browser, host, user_id, token
        self.uis: list[Ui] = []
        self.expected_status: str | None = None  # console errors of responses with this status are expected

    async def open(self, token: str | None = None, **context: Any) -> Page:
        ui = await new_ui(self.browser, self.api.stack, **{"timezone_id": "UTC", **context})
        self.uis.append(ui)
        query = f"api={self.api.stack.base_url}&user={self.user_id}&token={token or self.token}"
        await ui.page.goto(f"{self.host}/?{query}")
        return ui.page

    async def send(self, template: str | None = None, **body: Any) -> str:
        template = template or await self.api.template()
        sent = await self.api.send(template, user_id=self.user_id, channels=["in_app"], **body)
        nid: str = sent["id"]
        return nid


@pytest.fixture
async def embedded(api: Api, browser: Browser, host_page: str) -> AsyncIterator[Embedded]:
    user_id = await api.user()
    token = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    made = Embedded(api, browser, host_page, user_id, token)
    yield made
    for ui in made.uis:
        await ui.context.close()
    for ui in made.uis:
        if made.expected_status:
            ui.errors = [e for e in ui.errors if f"status of {made.expected_status}" not in e]
        ui.assert_no_console_errors()


def _inbox(page: Page) -> Locator:
    return page.locator("herald-inbox")


def _badge(page: Page) -> Locator:
    return _inbox(page).locator(".badge")


def _bell(page: Page) -> Locator:
    return _inbox(page).locator("button.bell")


def _item(page: Page, nid: str) -> Locator:
    return _inbox(page).locator(f'li.item[data-id="{nid}"]')


async def _feed_item(api: Api, token: str, nid: str) -> dict[str, Any]:
    page = await api.http.get("/v1/me/feed?limit=100", headers=api.stack.auth(token))
    archived = await api.http.get("/v1/me/feed?status=archived&limit=100", headers=api.stack.auth(token))
    found = [i for i in page.json()["items"] + archived.json()["items"] if i["notification_id"] == nid]
    return found[0] if found else {}


async def test_the_element_reads_marks_archives_snoozes_and_clicks_live(
        embedded: Embedded, api: Api, stack: Stack) -> None:
    page = await embedded.open()
    await expect(_bell(page)).to_have_attribute("aria-label", "Notifications")
    await expect(_badge(page)).to_be_hidden()

    template = await api.template()
    first = await embedded.send(template)
    # The script never polls, so the badge can only come by the stream; how fast is `python -m bench.feed_streams`.
    await expect(_badge(page)).to_have_text("1", timeout=5000)
    await expect(page).to_have_title("(1) Acme")
    await expect(_bell(page)).to_have_attribute("aria-label", "Notifications, 1 unread")

    await _bell(page).click()
    item = _item(page, first)
    await expect(item.get_by_role("heading")).to_have_text("Hi Ada")
    await item.get_by_role("button", name="Mark read").click()
    await expect(_badge(page)).to_be_hidden()
    await expect(page).to_have_title("Acme")
    assert (await _feed_item(api, embedded.token, first))["read_at"] is not None

    await _inbox(page).get_by_role("tab", name="All").click()
    await _item(page, first).get_by_role("button", name="Archive").click()
    await expect(_item(page, first)).to_have_count(0)
    await _inbox(page).get_by_role("tab", name="Archived").click()
    await expect(_item(page, first)).to_be_visible()
    assert (await _feed_item(api, embedded.token, first))["archived_at"] is not None

    # A 3-second snooze: gone at once, back by itself.
    second = await embedded.send()
    await _inbox(page).get_by_role("tab", name="Unread").click()
    await expect(_item(page, second)).to_be_visible()
    await _item(page, second).get_by_label("Snooze", exact=True).select_option("pick")
    until = datetime.now(UTC) + timedelta(seconds=3)
    await _item(page, second).get_by_label("Snooze until").fill(until.strftime("%Y-%m-%dT%H:%M:%S"))
    await _item(page, second).get_by_role("button", name="Snooze", exact=True).click()
    await expect(_item(page, second)).to_have_count(0)
    await expect(_badge(page)).to_be_hidden()
    await expect(_item(page, second)).to_be_visible(timeout=15_000)
    assert datetime.now(UTC) >= until - timedelta(seconds=1)  # the form takes whole seconds
    await expect(_badge(page)).to_have_text("1")


async def test_an_item_that_arrives_while_a_tab_loads_stays(embedded: Embedded) -> None:
    page = await embedded.open()
    await _bell(page).click()
    await expect(_inbox(page).get_by_text("Nothing here.")).to_be_visible()

    # The tab's first page is read before the send and reaches the element only after the stream has
    # brought the new item: the page must not wipe it.
    read, release, again = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold(route: Route) -> None:
        if read.is_set():
            again.set()
            await route.continue_()
            return
        response = await route.fetch()
        read.set()
        await release.wait()
        await route.fulfill(response=response)

    await page.route("**/v1/me/feed?*", hold)
    await _inbox(page).get_by_role("tab", name="All").click()
    await asyncio.wait_for(read.wait(), 10)
    nid = await embedded.send()
    await expect(_item(page, nid)).to_be_visible()
    release.set()
    await asyncio.wait_for(again.wait(), 10)
    await expect(_item(page, nid)).to_be_visible()
    await expect(_inbox(page).get_by_text("Nothing here.")).to_have_count(0)
    await expect(page).to_have_title("(1) Acme")


async def test_an_open_time_picker_survives_its_item_being_redrawn(embedded: Embedded, api: Api) -> None:
    page = await embedded.open()
    nid = await embedded.send()
    await _bell(page).click()
    await _inbox(page).get_by_role("tab", name="All").click()
    await _item(page, nid).get_by_label("Snooze", exact=True).select_option("pick")
    picker = _item(page, nid).get_by_label("Snooze until")
    await picker.fill("2031-01-02T03:04:05")
    await expect(picker).to_be_focused()

    # Read on another device: the stream redraws the item, with the picker still open where it was.
    read = await api.http.post(f"/v1/me/feed/{nid}/read", headers=api.stack.auth(embedded.token))
    assert read.status_code == 200, read.text
    await expect(_item(page, nid).get_by_role("button", name="Mark unread")).to_be_visible()
    await expect(picker).to_have_value("2031-01-02T03:04:05")
    await expect(picker).to_be_focused()


async def test_an_action_click_reaches_a_status_webhook_receiver(embedded: Embedded, api: Api) -> None:
    hook = Hook(api, api.stack.http_receiver, ["action"])
    await hook.register()
    try:
        page = await embedded.open()
        nid = await embedded.send(data={"name": "Ada", "order": 42},
                                  actions=[{"label": "Track order {{ order }}", "url": "/orders/{{ order }}"}])
        await _bell(page).click()
        link = _item(page, nid).get_by_role("link", name="Track order 42")
        await expect(link).to_have_attribute("href", "/orders/42")
        async with page.context.expect_page():
            await link.click()
        await hook.until_types(nid, ["action"])
        [call] = hook.calls(nid, answered=200)
        assert call.body["data"]["action"] == {"index": 0, "label": "Track order 42", "url": "/orders/42"}
    finally:
        await hook.delete()


async def test_two_tabs_stay_in_step(embedded: Embedded) -> None:
    one, two = await embedded.open(), await embedded.open()
    nid = await embedded.send()
    for page in (one, two):
        await expect(_badge(page)).to_have_text("1")
    await _bell(two).click()
    await expect(_item(two, nid)).to_be_visible()
    await _bell(one).click()
    await _inbox(one).get_by_role("tab", name="All").click()
    await _item(one, nid).get_by_role("button", name="Mark read").click()
    await expect(_badge(two)).to_be_hidden()
    await expect(_item(two, nid)).to_have_count(0)  # two shows its unread tab: the item leaves it
    await _item(one, nid).get_by_role("button", name="Mark unread").click()
    await expect(_badge(two)).to_have_text("1")
    await expect(_item(two, nid)).to_be_visible()


async def test_a_category_turned_off_in_the_preferences_skips_the_next_one(embedded: Embedded, api: Api) -> None:
    page = await embedded.open()
    await embedded.send(category="news")
    await expect(_badge(page)).to_have_text("1")
    await _bell(page).click()
    await _inbox(page).get_by_role("button", name="Preferences").click()
    news = _inbox(page).get_by_role("checkbox", name="news")
    await expect(news).to_be_checked()
    await news.uncheck()
    await expect(_inbox(page).get_by_role("status")).to_have_text("Saved.")
    prefs = (await api.http.get("/v1/me/preferences", headers=api.stack.auth(embedded.token))).json()
    assert prefs["categories"] == {"news": False}
    skipped = await embedded.send(category="news")
    await api.until_status(skipped, "skipped")
    await expect(_badge(page)).to_have_text("1")


@pytest.mark.parametrize("kind", ["expired", "revoked", "foreign"])
async def test_a_token_that_is_no_good_gets_words_not_a_blank(embedded: Embedded, api: Api, kind: str) -> None:
    token = embedded.token
    embedded.expected_status = "401"  # the browser logs each refused request: they are the point here
    if kind == "foreign":  # signed by some other deployment
        token = jwt.encode({"sub": embedded.user_id, "exp": datetime.now(UTC) + timedelta(hours=1)}, "x" * 40,
                           algorithm="HS256")
    elif kind == "expired":
        await api.stack.pool.execute(
            "UPDATE user_token SET expires_at = now() - interval '1 second' WHERE user_id = $1", embedded.user_id)
    else:
        token_id = await api.stack.pool.fetchval("SELECT id FROM user_token WHERE user_id = $1", embedded.user_id)
        r = await api.http.delete(f"/v1/users/{embedded.user_id}/tokens/{token_id}", headers=api.h)
        assert r.status_code == 204
    page = await embedded.open(token)
    words = "Your session for notifications has expired or was revoked. Sign in again to see them."
    await expect(_bell(page)).to_have_attribute("aria-label", words)
    await _bell(page).click()
    await expect(_inbox(page).get_by_role("alert")).to_have_text(words)


async def test_french_strings_follow_the_browser_locale(embedded: Embedded) -> None:
    page = await embedded.open(locale="fr-FR")
    await embedded.send()
    await expect(_bell(page)).to_have_attribute("aria-label", "Notifications, 1 non lues")
    await _bell(page).click()
    await expect(_inbox(page).get_by_role("tab", name="Non lues")).to_have_attribute("aria-selected", "true")
    await expect(_inbox(page).get_by_role("button", name="Tout marquer comme lu")).to_be_visible()


async def test_keyboard_reaches_everything_and_axe_finds_nothing_serious(embedded: Embedded) -> None:
    axe = AXE.read_bytes()
    assert hashlib.sha256(axe).hexdigest() == AXE_SHA256, "tests/web/vendor/axe.min.js is not the pinned one"
    page = await embedded.open()
    await embedded.send(actions=[{"label": "Open", "url": "/orders/1"}])
    await expect(_badge(page)).to_have_text("1")
    await page.keyboard.press("Tab")
    await expect(_bell(page)).to_be_focused()
    await page.keyboard.press("Enter")
    unread = _inbox(page).get_by_role("tab", name="Unread")
    await expect(unread).to_be_focused()
    await page.keyboard.press("ArrowRight")
    await expect(_inbox(page).get_by_role("tab", name="All")).to_be_focused()
    await expect(_inbox(page).locator("li.item")).to_have_count(1)
    await page.add_script_tag(content=axe.decode())
    for view in ("feed", "preferences"):
        if view == "preferences":
            await _inbox(page).get_by_role("button", name="Preferences").click()
            await expect(_inbox(page).get_by_role("checkbox", name="Email")).to_be_visible()
        results = await page.evaluate("async () => (await axe.run(document)).violations"
                                      ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))")
        serious = [v for v in results if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{view}: {serious}"
    await page.keyboard.press("Escape")
    await expect(_inbox(page).get_by_role("dialog")).to_be_hidden()
    await expect(_bell(page)).to_be_focused()


async def test_the_script_is_small_and_screenshots_of_the_host_page(embedded: Embedded, api: Api,
                                                                     tmp_path: Path) -> None:
    r = await api.http.get("/ui/embed/herald-inbox.js", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert len(gzip.compress(r.content, 9)) < SCRIPT_BUDGET_GZIPPED
    await embedded.send(data={"name": "Ada", "order": 42}, actions=[
        {"label": "Track order {{ order }}", "url": "/orders/{{ order }}"}, {"label": "Later", "url": "/inbox"}])
    await embedded.send(category="news")
    out = screenshot_dir(tmp_path)
    for name, size in (("embed", {"width": 1280, "height": 800}), ("embed-375", PHONE)):
        page = await embedded.open(viewport=size)
        await expect(_badge(page)).to_have_text("2")
        await _bell(page).click()
        await expect(_inbox(page).locator("li.item")).to_have_count(2)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name}: {width} px wide"
        await page.screenshot(path=str(out / f"{name}.png"))
