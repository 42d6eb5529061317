"""The dashboard's forms over plain HTTP (what a browser posts): sends to users, a topic and later; idempotent
resubmits; user preferences; the overview's numbers and chart data; the activity log's keyset pages."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from tests.api.conftest import Api, eventually, uid


async def _post(api: Api, path: str, form: dict[str, Any]) -> Any:
    return await api.http.post(path, data=form, headers=api.h)


async def _listed(api: Api, user_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.http.get(f"/v1/notifications?user_id={user_id}", headers=api.h)
                                   ).json()["items"]
    return items


async def test_sending_to_users_is_idempotent_per_form_and_can_be_scheduled(api: Api) -> None:
    template = await api.template()
    ada, bea = await api.user(), await api.user()
    form = {"template": template, "data": '{"name": "Ada"}', "audience": "users", "user_ids": [ada, bea],
            "channels": "in_app", "priority": "otp", "key": uuid.uuid4().hex}
    r = await _post(api, "/ui/send", form)
    assert r.status_code == 303 and "Sent+2+notification" in r.headers["location"]
    r = await _post(api, "/ui/send", form)  # the same form submitted again (a double click, a reload)
    assert r.status_code == 303
    for user_id in (ada, bea):
        listed = await _listed(api, user_id)
        assert len(listed) == 1 and listed[0]["priority"] == "otp"
        await api.until_status(listed[0]["id"], "delivered")

    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    r = await _post(api, "/ui/send", {**form, "user_ids": ada, "send_at": later, "key": uuid.uuid4().hex})
    assert r.status_code == 303
    scheduled = [n for n in await _listed(api, ada) if n["status"] == "scheduled"]
    assert len(scheduled) == 1 and scheduled[0]["send_at"].startswith(later)
    await api.http.post(f"/v1/notifications/{scheduled[0]['id']}/cancel", headers=api.h)


async def test_a_send_with_a_problem_comes_back_with_the_problem_named(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    base: dict[str, Any] = {"template": template, "audience": "users", "user_ids": user_id, "channels": "in_app",
            "key": uuid.uuid4().hex}
    for form, message in [({**base, "data": "{}"}, "variable &#39;name&#39;"),
                          ({**base, "data": "{not json"}, "not valid JSON"),
                          ({**base, "data": '{"name": "A"}', "user_ids": []}, "pick at least one user"),
                          ({**base, "data": '{"name": "A"}', "channels": []}, "channels")]:
        r = await _post(api, "/ui/send", form)
        assert r.status_code == 200 and "Not sent" in r.text and message in r.text, (form, r.text[-2000:])
    assert await _listed(api, user_id) == []


async def test_a_send_to_some_users_that_cannot_take_it_names_them_and_sends_the_rest(api: Api) -> None:
    template = await api.template()
    ada, bea = await api.user(), await api.user()
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    form = {"template": template, "data": '{"name": "Ada"}', "audience": "users", "user_ids": [ada, ghost, bea],
            "channels": "in_app", "key": uuid.uuid4().hex}
    r = await _post(api, "/ui/send", form)
    location = unquote_plus(r.headers["location"])
    assert r.status_code == 303 and "Sent 2 notification(s); not sent to 1 user(s)" in location, location
    assert ghost in location and "does not exist" in location
    for user_id in (ada, bea):
        assert len(await _listed(api, user_id)) == 1
    r = await _post(api, "/ui/send", form)  # submitted again: the two are repeats, the ghost still refused
    assert "Sent 2 notification(s); not sent to 1 user(s)" in unquote_plus(r.headers["location"])
    for user_id in (ada, bea):
        assert len(await _listed(api, user_id)) == 1


async def test_a_topic_send_starts_a_broadcast(api: Api) -> None:
    template = await api.template()
    topic = uid("topic")
    members = [await api.user(topics=[topic]) for _ in range(3)]
    r = await _post(api, "/ui/send", {"template": template, "data": '{"name": "all"}', "audience": "topic",
                                      "topic": topic, "channels": "in_app", "key": uuid.uuid4().hex})
    assert r.status_code == 303 and "Broadcast" in r.headers["location"]
    for user_id in members:
        async def delivered(user_id: str = user_id) -> bool:
            return [n["status"] for n in await _listed(api, user_id)] == ["delivered"]
        await eventually(delivered, 30, f"{user_id}'s broadcast notification")


async def test_the_users_form_sets_contacts_topics_and_preferences(api: Api) -> None:
    user_id = uid("usr")
    r = await _post(api, "/ui/users", {"id": user_id, "name": "Grace", "email": "grace@example.com",
                                       "topics": "news, ops", "allow_in_app": "1", "allow_sms": "1",
                                       "opted_out_categories": "marketing", "quiet_start": "22:00",
                                       "quiet_end": "07:00", "timezone": "Europe/Paris", "chat_address": "C0GRACE"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/ui/users/{user_id}")
    user = (await api.http.get(f"/v1/users/{user_id}", headers=api.h)).json()
    assert user["email"] == "grace@example.com" and user["topics"] == ["news", "ops"]
    assert user["chat_address"] == "C0GRACE"
    assert user["preferences"]["channels"]["email"] is False and "in_app" not in user["preferences"]["channels"]
    assert user["preferences"]["categories"] == {"marketing": False}
    assert user["preferences"]["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    # Editing clears what the form leaves empty, like a PATCH with nulls.
    r = await _post(api, f"/ui/users/{user_id}", {"name": "Grace H", "allow_email": "1", "allow_in_app": "1"})
    assert r.status_code == 303
    user = (await api.http.get(f"/v1/users/{user_id}", headers=api.h)).json()
    assert user["name"] == "Grace H" and user["email"] is None and user["topics"] == []
    assert "quiet_hours" not in user["preferences"]
    r = await _post(api, f"/ui/users/{user_id}", {"name": "Grace", "email": "x", "phone": "not a phone"})
    assert r.status_code == 200 and "Not saved" in r.text and "phone" in r.text


async def test_overview_counts_and_the_last_hour_by_channel_and_priority(api: Api) -> None:
    template = await api.template()
    before = (await api.http.get("/ui/overview/series", headers=api.h)).json()
    n = await api.send(template, to={"sim": "ok"}, channels=["sim"], priority="marketing")
    await api.until_status(n["id"], "delivered")
    after = (await api.http.get("/ui/overview/series", headers=api.h)).json()
    assert len(after["labels"]) == 60 and all(len(v) == 60 for v in after["by_channel"].values())
    assert sum(after["by_channel"]["sim"]) >= sum(before["by_channel"].get("sim", [0])) + 1
    assert sum(after["by_priority"]["marketing"]) >= sum(before["by_priority"].get("marketing", [0])) + 1
    # The total is a lifetime count: retention deletes rows and leaves it alone, so it is at least the rows there
    # are, and the send above is in it.
    low = await api.stack.pool.fetchval("SELECT count(*) FROM notification")
    accepted = await _accepted(api)
    assert accepted >= low
    await api.until_status((await api.send(template, to={"sim": "ok"}, channels=["sim"]))["id"], "delivered")
    assert await _accepted(api) >= accepted + 1


async def _accepted(api: Api) -> int:
    html = (await api.http.get("/ui", headers=api.h)).text
    return int(re.search(r"<dt>Accepted</dt><dd>(\d+)</dd>", html).group(1))  # type: ignore[union-attr]


async def test_the_activity_log_pages_by_keyset_without_gaps_or_repeats(api: Api) -> None:
    user_id = await api.user()
    template = await api.template()
    items = [{"user_id": user_id, "template": template, "data": {"name": "Ada"}, "channels": ["sim"],
              "to": {"sim": "ok"}} for _ in range(57)]
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
    assert r.json()["counts"] == {"accepted": 57}
    html = (await api.http.get(f"/ui/notifications?user_id={user_id}", headers=api.h)).text
    first = re.findall(r'<a href="/ui/notifications/([^"]+)">', html)
    older = re.search(r'<a href="([^"]+)" rel="next">', html)
    assert len(first) == 50 and older is not None
    html = (await api.http.get(older.group(1).replace("&amp;", "&"), headers=api.h)).text
    second = re.findall(r'<a href="/ui/notifications/([^"]+)">', html)
    assert len(second) == 7 and 'rel="next"' not in html
    assert not set(first) & set(second)
    assert set(first) | set(second) == {res["notification"]["id"] for res in r.json()["results"]}


async def test_the_user_picker_finds_by_id_name_or_email_and_keeps_the_ticked_ones(api: Api) -> None:
    tag = uuid.uuid4().hex[:8]
    ada = await api.user(email=f"ada-{tag}@example.com")
    await api.http.patch(f"/v1/users/{ada}", json={"name": f"Zelda{tag}"}, headers=api.h)
    for q in (ada, f"zelda{tag}", f"-{tag}@example"):
        html = (await api.http.get("/ui/users/search", params={"q": q}, headers=api.h)).text
        assert f'value="{ada}"' in html and "checked" not in html, q
    other = await api.user()
    html = (await api.http.get("/ui/users/search", params={"q": other, "user_ids": ada}, headers=api.h)).text
    assert re.search(rf'value="{ada}" checked', html) and f'value="{other}">' in html
    # LIKE wildcards in the query match themselves only.
    assert 'name="user_ids"' not in (await api.http.get("/ui/users/search", params={"q": "%"}, headers=api.h)).text


async def test_retry_all_and_discard_all_reach_every_dead_letter(api: Api) -> None:
    template = await api.template()
    parked = [await api.send(template, to={"sim": "reject"}, channels=["sim"]) for _ in range(2)]
    for n in parked:
        await api.until_status(n["id"], "dead_lettered")
    r = await _post(api, "/ui/dlq/retry", {"all": "1"})
    assert r.status_code == 303 and "every+dead+letter" in r.headers["location"]

    async def retried() -> bool:  # `reject` fails again at once: parked anew, with one more attempt each
        again = [await api.get(n["id"]) for n in parked]
        return all(a["status"] == "dead_lettered" and a["attempts"] == 2 for a in again)
    await eventually(retried, 20, "both retried")
    r = await _post(api, "/ui/dlq/discard", {"all": "1"})
    assert r.status_code == 303 and "Discard+sent" in r.headers["location"]
    for n in parked:
        await api.until_status(n["id"], "discarded")
    listed = {d["notification_id"] for d in (await api.http.get("/v1/dlq?limit=500", headers=api.h)).json()["items"]}
    assert not listed & {n["id"] for n in parked}


async def test_a_scheduled_notification_is_rescheduled_and_sent_now_from_its_page(api: Api) -> None:
    user_id = await api.user()
    send_at = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    n = await api.send(await api.template(), user_id=user_id, channels=["in_app"], send_at=send_at)
    page = await api.http.get(f"/ui/notifications/{n['id']}", headers=api.h)
    assert page.status_code == 200 and "Send now" in page.text and "Reschedule" in page.text
    later = (datetime.now(UTC) + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M")
    r = await _post(api, f"/ui/notifications/{n['id']}/reschedule", {"send_at": later})
    assert r.status_code == 303 and "Rescheduled" in r.headers["location"], r.headers["location"]
    assert (await api.get(n["id"]))["send_at"].startswith(later)
    r = await _post(api, f"/ui/notifications/{n['id']}/send-now", {})
    assert r.status_code == 303 and "Sending+now" in r.headers["location"], r.headers["location"]
    await api.until_status(n["id"], "delivered")
    r = await _post(api, f"/ui/notifications/{n['id']}/send-now", {})
    assert r.status_code == 303 and "Not+sent+now" in r.headers["location"], r.headers["location"]
    page = await api.http.get(f"/ui/notifications/{n['id']}", headers=api.h)
    assert "Send now" not in page.text
