"""`/ui/outbox` belongs to `make up`: an API that no catcher directory was given (every deployment but
`make up`) does not have the page at all. With one, a chat message sent through the worker's chat gateway to
`make up`'s catcher reads in Chromium as a chat client shows it. The page's other channels are tested on a
`make up` stack in tests/devstack/test_readme_tour.py."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from temporalio.testing import WorkflowEnvironment

from api.web.outbox import CATCHER_DIR
from devstack.gateway_catcher import GatewayCatcher
from tests.api.conftest import Api
from tests.conftest import SECRET, Stack, database_of_its_own, free_port, herald_stack
from tests.receivers import HttpReceiver, SmtpSink
from tests.web.conftest import new_ui


async def test_without_make_ups_catchers_the_outbox_does_not_exist(stack: Stack) -> None:
    for path in ("/ui/outbox", "/ui/outbox/mail/20261130T000000-00001.eml"):
        answer = await stack.http.get(path, headers=stack.auth())
        assert answer.status_code == 404, (path, answer.text[:300])
        assert answer.json()["error"]["code"] == "not_found"
    overview = await stack.http.get("/ui", headers=stack.auth())
    assert overview.status_code == 200 and 'href="/ui/templates"' in overview.text
    assert 'href="/ui/outbox"' not in overview.text  # nor a link to it in the dashboard's navigation


@pytest.fixture(scope="module")
async def catching(stack: Stack, pg_server: Any, dev_env: WorkflowEnvironment, smtp_sink: SmtpSink,
                   smtp_fallback_sink: SmtpSink, http_receiver: HttpReceiver
                   ) -> AsyncIterator[tuple[Stack, GatewayCatcher]]:
    """A stack as `make up` wires it for chat: no chat integration, HERALD_CHAT_WEBHOOK_URL at the catcher, and
    HERALD_CATCHER_DIR set for its API. On a database of its own, so that its worker alone starts its
    notifications; after the shared `stack`, so that the shared API never sees the variable."""
    directory = Path(tempfile.mkdtemp(prefix="houtbox-"))
    catcher = GatewayCatcher(directory, "127.0.0.1", free_port(), SECRET, ("chat",))
    catcher.start()
    os.environ[CATCHER_DIR] = str(directory)
    try:
        async with database_of_its_own(pg_server, "herald_outbox") as (url, pool):
            async with herald_stack(dev_env, url, pool, smtp_sink, smtp_fallback_sink, http_receiver,
                                    HERALD_CHAT_WEBHOOK_URL=catcher.url("chat")) as running:
                yield running, catcher
    finally:
        del os.environ[CATCHER_DIR]
        catcher.stop()


async def test_a_caught_chat_message_reads_as_a_chat_message_in_chromium(
        catching: tuple[Stack, GatewayCatcher], browser: Browser) -> None:
    own, catcher = catching
    api = Api(own)
    listed = {i["id"]: i for i in (await own.http.get("/v1/integrations", headers=own.auth())).json()}
    gateway = listed["env-chat-gateway"]
    assert (gateway["channel"], gateway["provider"], gateway["read_only"], gateway["active"]) == (
        "chat", "http_gateway", True, True)
    assert gateway["config"] == {"url": catcher.url("chat")}

    template = await api.template(subject="Deploy {{ name }}",
                                  body="Deploy {{ name }} finished.\nEvery check <passed> & nothing waits.")
    user = await api.user(chat_address="#deploys")
    sent = await api.send(template, user_id=user, channels=["chat"], data={"name": "v2.4"})
    done = await api.until_status(sent["id"], "delivered")
    (delivery,) = done["deliveries"]
    assert delivery["provider"] == "chat-gateway" and delivery["provider_message_id"].startswith("caught-")
    (kept,) = [json.loads(path.read_text()) for path in (catcher.directory / "chat").glob("*.json")]
    assert kept["payload"]["to"] == "#deploys" and kept["payload"]["notification_id"] == sent["id"]
    caught_at = datetime.fromisoformat(kept["caught_at"])

    ui = await new_ui(browser, own)
    try:
        await ui.login(own.admin_key)
        await ui.page.get_by_role("navigation").get_by_role("link", name="Outbox").click()
        await expect(ui.page).to_have_url(f"{own.base_url}/ui/outbox")
        chat = ui.page.get_by_role("article", name="Chat message to #deploys")
        await expect(chat).to_be_visible()
        await expect(chat.locator(".chat-to")).to_have_text("To #deploys")
        await expect(chat.locator(".chat-sender")).to_have_text("Herald")
        await expect(chat.locator(".chat-title")).to_have_text("Deploy v2.4")
        time = chat.locator("time.chat-time")
        await expect(time).to_have_text(caught_at.strftime("%H:%M"))
        await expect(time).to_have_attribute("datetime", caught_at.isoformat())
        # The text as sent: its line break kept, its markup shown as text, nothing cut off.
        text = chat.locator(".chat-text")
        assert await text.inner_text() == "Deploy v2.4 finished.\nEvery check <passed> & nothing waits."
        await expect(text.locator("passed")).to_have_count(0)
        for part in (chat.locator(".chat-to"), chat.locator(".chat-title"), text):
            await expect(part).to_be_in_viewport()
            assert await part.evaluate("e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight")
        # Drawn as a message: the sender's avatar beside it, on a window of its own, not as an SMS bubble.
        avatar, message = await chat.locator(".chat-avatar").bounding_box(), await text.bounding_box()
        assert avatar and message and avatar["x"] + avatar["width"] <= message["x"]
        assert await chat.locator(".bubble").count() == 0
    finally:
        await ui.context.close()
    ui.assert_no_console_errors()
