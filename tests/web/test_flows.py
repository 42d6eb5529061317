"""The dashboard and the inbox as people use them, in Chromium against the real stack: templates with a syntax
error flagged at its line, a send watched to `delivered`, an inbox that updates live, a DLQ retry and discard."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, expect

from tests.api.conftest import Api, eventually
from tests.web.conftest import Ui, new_ui


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_template_with_a_syntax_error_is_flagged_at_its_line_then_a_good_one_is_saved(ui: Ui) -> None:
    page = ui.page
    name = uid("greet")
    await ui.login(ui.stack.admin_key)
    await page.get_by_role("link", name="Templates").click()
    await page.get_by_role("link", name="New template").click()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Subject").fill("Hi {{ name }}")
    await page.get_by_label("Body (Jinja2)").fill("Hello {{ name }}\nYour code is {{ code }\nBye")
    # The live preview flags it while typing, with the line marked in the source.
    errors = page.locator("#check #template-errors")
    await expect(errors).to_contain_text("body, line 2")
    await expect(errors).to_contain_text("unexpected '}'")
    await expect(page.locator("#check .source li.bad")).to_have_text("Your code is {{ code }")
    # Saving anyway is refused by the server with the same line; nothing is created.
    await page.get_by_role("button", name="Create").click()
    await expect(page.locator("#template-errors")).to_contain_text("line 2")
    assert (await ui.stack.http.get(f"/v1/templates/{name}", headers=ui.stack.auth())).status_code == 404
    # Fixed, previewed with sample data, created.
    await page.get_by_label("Body (Jinja2)").fill("Hello {{ name }}\nYour code is {{ code }}\nBye")
    await page.get_by_label("Sample data for the preview (JSON)").fill('{"name": "Ada", "code": "4217"}')
    await expect(page.locator("#preview-body")).to_have_text("Hello Ada\nYour code is 4217\nBye")
    await expect(page.locator("#preview-subject")).to_have_text("Hi Ada")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Template {name} created (version 1)")
    # An edit is a new version; the history lists both and the old one stays readable.
    await page.get_by_label("Subject").fill("Hello again {{ name }}")
    await page.get_by_role("button", name="Save as new version").click()
    await expect(page.get_by_role("status")).to_contain_text("Saved as version 2")
    await expect(page.locator("#history tbody tr")).to_have_count(2)
    await page.get_by_role("link", name="v1").click()
    await expect(page.get_by_label("Subject")).to_have_value("Hi {{ name }}")
    latest = (await ui.stack.http.get(f"/v1/templates/{name}", headers=ui.stack.auth())).json()
    assert latest["version"] == 2 and latest["subject"] == "Hello again {{ name }}"


async def test_send_to_a_user_watch_it_delivered_and_see_it_arrive_live_in_their_inbox(
        ui: Ui, api: Api, browser: Browser) -> None:
    page = ui.page
    await ui.login(ui.stack.admin_key)
    # A user, created on the users page, and an inbox token issued there.
    user_id = uid("ada")
    await page.goto("/ui/users")
    await page.get_by_text("Create a user").click()
    await page.get_by_label("Id (optional: one is generated)").fill(user_id)
    await page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    await page.get_by_label("Email", exact=True).fill("ada@example.com")
    await page.get_by_role("button", name="Create user").click()
    await expect(page.get_by_role("status")).to_contain_text(f"User {user_id} created")
    await page.get_by_role("button", name="Issue an inbox token").click()
    token = (await page.locator("#token").inner_text()).strip()
    assert token.startswith("hut_")

    template = await api.template(body="Hello {{ name }}", subject="Hi {{ name }}")
    await page.get_by_role("link", name="Send").click()
    await page.get_by_label("Template").select_option(template)
    await expect(page.locator("#variables")).to_contain_text("name")
    await page.get_by_label("Data (JSON)").fill('{"name": "Ada"}')
    await page.get_by_label("Find users (id, name or email)").fill(user_id)
    await page.get_by_label(re.compile(f"Ada Lovelace.*{user_id}")).check()
    # Searching again keeps the ticked user.
    await page.get_by_label("Find users (id, name or email)").fill("nobody-by-that-name")
    await expect(page.locator("#user-results")).not_to_contain_text("Ada Lovelace")
    await expect(page.locator(f"#user-results input[value='{user_id}']")).to_be_checked()
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#send-preview-body")).to_have_text("Hello Ada")
    await expect(page.locator("#send-preview")).to_contain_text("As Ada Lovelace will see it")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Sent 1 notification(s)")
    assert f"user_id={user_id}" in page.url
    # No reload: the newest page of the activity log refreshes itself.
    await expect(page.locator("tbody .status").first).to_contain_text("delivered", timeout=20_000)
    await page.locator("tbody td.mono a").first.click()
    await expect(page.locator("#timeline")).to_contain_text("delivered")
    link = page.get_by_role("link", name=re.compile("in the Temporal Web UI"))
    assert re.fullmatch(r"http://127\.0\.0\.1:8233/namespaces/default/workflows/notification-[0-9a-f-]+",
                        await link.get_attribute("href") or "")

    # The user's inbox, in a browser of its own: the first item is there, the next arrives without a reload.
    inbox = await new_ui(browser, ui.stack)
    try:
        await inbox.login(token, expect_path="/ui/inbox")
        items = inbox.page.locator("#inbox-list li")
        await expect(items).to_have_count(1)
        await expect(inbox.page).to_have_title("(1) Inbox · Herald")
        await inbox.page.evaluate("window.notReloaded = true")
        await api.send(template, user_id=user_id, channels=["in_app"], data={"name": "again"})
        await expect(items).to_have_count(2)
        await expect(items.first).to_contain_text("Hello again")
        await expect(items.first).to_have_class(re.compile("unread"))
        await expect(inbox.page.locator("#unread-count")).to_have_text("2")
        await expect(inbox.page).to_have_title("(2) Inbox · Herald")
        assert await inbox.page.evaluate("window.notReloaded") is True
        # Mark the new one read, then all.
        await items.first.get_by_role("button", name="Mark “Hi again” read").click()
        await expect(inbox.page.get_by_role("status")).to_have_text("Marked read.")
        await expect(inbox.page).to_have_title("(1) Inbox · Herald")
        await expect(items.first).to_have_class(re.compile(r"\bread\b"))
        await inbox.page.get_by_role("button", name="Mark all read").click()
        await expect(inbox.page).to_have_title("Inbox · Herald")
        await expect(inbox.page.locator("#inbox-list li.unread")).to_have_count(0)
        unread = (await api.http.get(f"/v1/users/{user_id}/inbox?unread=true", headers=api.h)).json()
        assert unread["unread_count"] == 0
    finally:
        await inbox.context.close()
    inbox.assert_no_console_errors()


async def test_dead_letters_are_retried_and_discarded_from_the_dlq_page(ui: Ui, api: Api) -> None:
    template = await api.template()
    # flaky:3 fails the three attempts of its first round, so a retry delivers it; reject never delivers.
    flaky = await api.send(template, to={"sim": "flaky:3"}, channels=["sim"])
    rejected = await api.send(template, to={"sim": "reject"}, channels=["sim"])
    await api.until_status(flaky["id"], "dead_lettered")
    await api.until_status(rejected["id"], "dead_lettered")

    page = ui.page
    await ui.login(ui.stack.admin_key)
    await page.get_by_role("link", name="Dead letters").click()
    await page.get_by_label("Channel").select_option("sim")
    await page.get_by_role("button", name="Filter").click()
    flaky_row = page.locator(f"#dl-{flaky['id']}-sim")
    await expect(flaky_row).to_contain_text("flaky")
    await expect(flaky_row).to_contain_text("3")
    await flaky_row.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status")).to_contain_text("Retry sent to 1 notification(s)")
    delivered = await api.until_status(flaky["id"], "delivered")
    assert delivered["attempts"] == 4

    await page.reload()
    await expect(page.locator(f"#dl-{flaky['id']}-sim")).to_have_count(0)
    await page.get_by_label(f"Select {rejected['id']} (sim)").check()
    await page.get_by_role("button", name="Discard selected").click()
    await expect(page.get_by_role("status")).to_contain_text("Discard sent to 1 notification(s) (1 selected)")
    await api.until_status(rejected["id"], "discarded")
    # The activity log filters by status: the discarded one is listed there.
    await page.goto("/ui/notifications?status=discarded&channel=sim")
    await expect(page.locator(f"a[href='/ui/notifications/{rejected['id']}']")).to_be_visible()


async def test_the_data_of_a_scheduled_notification_is_edited_from_its_page_until_it_is_too_late(
        ui: Ui, api: Api) -> None:
    template = await api.template(body="Your code is {{ code }}", subject=None)
    user_id = await api.user()
    send_at = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    n = await api.send(template, user_id=user_id, channels=["in_app"], send_at=send_at, data={"code": "111"})
    late = await api.send(template, user_id=user_id, channels=["in_app"], send_at=send_at, data={"code": "333"})

    page = ui.page
    await ui.login(ui.stack.admin_key)
    await page.goto(f"/ui/notifications/{n['id']}")
    box = page.get_by_label("Data (JSON")
    await expect(box).to_have_value(re.compile(r'"code": "111"'))
    # Refusals keep what was typed and say why.
    await box.fill('{"code": ')
    await page.get_by_role("button", name="Save data").click()
    await expect(page.get_by_role("alert")).to_contain_text("this is not JSON")
    await expect(box).to_have_value('{"code": ')
    await box.fill('{"other": "x"}')
    await page.get_by_role("button", name="Save data").click()
    await expect(page.get_by_role("alert")).to_contain_text("code")
    await box.fill('{"code": "222"}')
    await page.get_by_role("button", name="Save data").click()
    await expect(page.get_by_role("status")).to_contain_text("Data saved")
    await expect(box).to_have_value(re.compile(r'"code": "222"'))

    await page.get_by_role("button", name="Send now").click()
    await api.until_status(n["id"], "delivered")
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=api.h)).json()["items"]
    assert [i["body"] for i in inbox if i["notification_id"] == n["id"]] == ["Your code is 222"]
    await page.reload()
    await expect(page.get_by_label("Data (JSON")).to_have_count(0)  # rendered: no longer editable

    # The page was opened while it could still change; it was sent before the form was: 409, said plainly.
    await page.goto(f"/ui/notifications/{late['id']}")
    await page.get_by_label("Data (JSON").fill('{"code": "444"}')
    r = await api.http.post(f"/v1/notifications/{late['id']}/send-now", headers=api.h)
    assert r.status_code == 200, r.text
    await api.until_status(late["id"], "delivered")
    await page.get_by_role("button", name="Save data").click()
    await expect(page.get_by_role("alert")).to_contain_text("Data not changed: too late")
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=api.h)).json()["items"]
    assert [i["body"] for i in inbox if i["notification_id"] == late["id"]] == ["Your code is 333"]


async def test_a_schedule_is_paused_fired_resumed_and_deleted_from_the_schedules_page(ui: Ui, api: Api) -> None:
    template = await api.template(body="Hello {{ user.name }}", subject=None)
    user_id = await api.user()
    sid = uid("sch")
    r = await api.http.post("/v1/schedules", headers=api.h, json={
        "id": sid, "cron": "0 9 1 1 *", "timezone": "Europe/Paris", "template": template, "channels": ["in_app"],
        "audience": {"user_ids": [user_id]}})
    assert r.status_code == 201, r.text

    page = ui.page
    await ui.login(ui.stack.admin_key)
    await page.get_by_role("link", name="Schedules").click()
    row = page.locator(f"#schedule-{sid}")
    await expect(row).to_contain_text("0 9 1 1 *")
    await expect(row).to_contain_text("Europe/Paris")
    await expect(row.locator(".state")).to_have_text("active")

    await row.get_by_role("button", name=f"Pause {sid}").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{sid}: paused")
    await expect(row.locator(".state")).to_contain_text("paused")
    assert (await api.http.get(f"/v1/schedules/{sid}", headers=api.h)).json()["paused"] is True

    await row.get_by_role("button", name=f"Fire {sid} now").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{sid}: fired now")

    async def sent() -> str | None:
        value: str | None = await api.stack.pool.fetchval(
            "SELECT id FROM broadcast WHERE schedule_id = $1 AND status = 'sent'", sid)
        return value
    broadcast_id = await eventually(sent, what="the fired broadcast")
    await page.reload()
    await expect(row.locator(".last-fire")).to_contain_text(broadcast_id)
    await expect(row.locator(".state")).to_contain_text("paused")  # a fire now leaves it paused

    async def inbox() -> list[str]:
        items = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=api.h)).json()["items"]
        return [i["body"] for i in items]
    assert await eventually(inbox, what="the message in the inbox") == ["Hello Ada"]

    await row.get_by_role("button", name=f"Resume {sid}").click()
    await expect(row.locator(".state")).to_contain_text("active")
    await row.get_by_role("button", name=f"Delete {sid}").click()
    await expect(page.get_by_role("status")).to_contain_text(f"{sid}: deleted")
    await expect(row).to_have_count(0)
    assert (await api.http.get(f"/v1/schedules/{sid}", headers=api.h)).status_code == 404
