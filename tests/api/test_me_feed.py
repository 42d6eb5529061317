"""`/v1/me/...`: a user token's own feed with its states and counts, action buttons and their clicks, snooze,
preferences, the live stream, and CORS for the embedding origins only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.api.conftest import Api
from tests.api.test_conventions import assert_error
from tests.api.test_status_webhooks import Hook
from tests.conftest import INBOX_ORIGIN


async def _token(api: Api, user_id: str) -> dict[str, str]:
    r = await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)
    assert r.status_code == 201, r.text
    return api.stack.auth(r.json()["token"])


async def _delivered(api: Api, template: str, user_id: str, **body: Any) -> str:
    sent = await api.send(template, user_id=user_id, channels=["in_app"], **body)
    await api.until_status(sent["id"], "delivered")
    nid: str = sent["id"]
    return nid


async def _feed(api: Api, mine: dict[str, str], query: str = "") -> dict[str, Any]:
    r = await api.http.get(f"/v1/me/feed{query}", headers=mine)
    assert r.status_code == 200, r.text
    page: dict[str, Any] = r.json()
    return page


def _ids(page: dict[str, Any]) -> list[str]:
    return [i["notification_id"] for i in page["items"]]


async def test_the_feed_has_states_counts_and_filters(api: Api) -> None:
    tpl, user = await api.template(), await api.user()
    first = await _delivered(api, tpl, user)
    news = await _delivered(api, tpl, user, category="news")
    third = await _delivered(api, tpl, user)
    mine = await _token(api, user)

    page = await _feed(api, mine)
    assert _ids(page) == [third, news, first] and page["next_cursor"] is None
    assert (page["unread_count"], page["unseen_count"]) == (3, 3)
    item = page["items"][0]
    assert item["subject"] == "Hi Ada" and item["body"] == "Hello Ada" and item["actions"] == []
    assert all(item[f] is None for f in ("seen_at", "read_at", "archived_at", "snoozed_until"))
    assert _ids(await _feed(api, mine, "?category=news")) == [news]

    r = await api.http.post(f"/v1/me/feed/{first}/seen", headers=mine)
    assert r.status_code == 200 and r.json()["seen_at"] is not None and r.json()["read_at"] is None
    assert _ids(await _feed(api, mine, "?status=unseen")) == [third, news]
    assert (await api.http.post("/v1/me/feed/seen-all", headers=mine)).status_code == 204
    assert (await _feed(api, mine))["unseen_count"] == 0

    r = await api.http.post(f"/v1/me/feed/{news}/read", headers=mine)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    page = await _feed(api, mine, "?status=unread")
    assert _ids(page) == [third, first] and page["unread_count"] == 2
    r = await api.http.post(f"/v1/me/feed/{news}/unread", headers=mine)
    assert r.status_code == 200 and r.json()["read_at"] is None
    assert (await _feed(api, mine))["unread_count"] == 3

    r = await api.http.post(f"/v1/me/feed/{third}/archive", headers=mine)
    assert r.status_code == 200 and r.json()["archived_at"] is not None
    page = await _feed(api, mine)
    assert _ids(page) == [news, first] and page["unread_count"] == 2  # an archived item counts no more
    assert _ids(await _feed(api, mine, "?status=archived")) == [third]
    # read-all leaves archived items as they are.
    assert (await api.http.post("/v1/me/feed/read-all", headers=mine)).status_code == 204
    assert (await _feed(api, mine))["unread_count"] == 0
    r = await api.http.post(f"/v1/me/feed/{third}/unarchive", headers=mine)
    assert r.status_code == 200 and r.json()["archived_at"] is None and r.json()["read_at"] is None
    page = await _feed(api, mine, "?limit=2")
    assert _ids(page) == [third, news] and page["unread_count"] == 1 and page["next_cursor"]
    assert _ids(await _feed(api, mine, f"?limit=2&cursor={page['next_cursor']}")) == [first]


async def test_a_token_reaches_only_its_own_feed(api: Api) -> None:
    tpl, alice, bob = await api.template(), await api.user(), await api.user()
    bobs = await _delivered(api, tpl, bob)
    as_alice = await _token(api, alice)
    assert (await _feed(api, as_alice))["items"] == []
    for change in ("seen", "read", "archive", "snooze", "actions/0"):
        body = {"until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()} if change == "snooze" else None
        assert_error(await api.http.post(f"/v1/me/feed/{bobs}/{change}", json=body, headers=as_alice), 404,
                     "not_found")
    bob_feed = await _feed(api, await _token(api, bob))
    assert bob_feed["items"][0]["seen_at"] is None and bob_feed["unread_count"] == 1

    # An API key has no `me`; no key is 401; an unknown status or change is 422.
    assert_error(await api.http.get("/v1/me/feed", headers=api.h), 403, "forbidden")
    assert_error(await api.http.get("/v1/me/feed"), 401, "unauthorized")
    assert_error(await api.http.get("/v1/me/feed?status=new", headers=as_alice), 422, "validation_error")
    assert_error(await api.http.post(f"/v1/me/feed/{bobs}/delete", headers=as_alice), 422, "validation_error")


async def test_an_expired_token_and_a_foreign_jwt_are_401(api: Api) -> None:
    user = await api.user()
    mine = await _token(api, user)
    token_id = (await api.stack.pool.fetchval(
        "SELECT id FROM user_token WHERE user_id = $1", user))
    await api.stack.pool.execute("UPDATE user_token SET expires_at = now() - interval '1 second' WHERE id = $1",
                                 token_id)
    assert_error(await api.http.get("/v1/me/feed", headers=mine), 401, "unauthorized")
    # Signed with a key that is not this deployment's (the stack has none at all).
    forged = jwt.encode({"sub": user, "exp": datetime.now(UTC) + timedelta(hours=1)}, "k" * 40, algorithm="HS256")
    assert_error(await api.http.get("/v1/me/feed", headers=api.stack.auth(forged)), 401, "unauthorized")


@pytest.fixture
async def action_hook(api: Api) -> AsyncIterator[Hook]:
    hook = Hook(api, api.stack.http_receiver, ["action"])
    await hook.register()
    yield hook
    await hook.delete()  # left behind, it would post every later test's clicks


async def test_actions_are_rendered_and_a_click_reaches_the_status_webhooks(api: Api, action_hook: Hook) -> None:
    hook = action_hook
    tpl, user = await api.template(), await api.user()
    actions = [{"label": "Open {{ name }}", "url": "https://app.example.com/orders/{{ order }}"},
               {"label": "Later", "url": "/inbox"}]
    nid = await _delivered(api, tpl, user, data={"name": "Ada", "order": 42}, actions=actions)
    mine = await _token(api, user)
    item = (await _feed(api, mine))["items"][0]
    assert item["actions"] == [{"label": "Open Ada", "url": "https://app.example.com/orders/42"},
                               {"label": "Later", "url": "/inbox"}]

    r = await api.http.post(f"/v1/me/feed/{nid}/actions/0", headers=mine)
    assert r.status_code == 200, r.text
    assert r.json() == {"notification_id": nid, "index": 0, "url": "https://app.example.com/orders/42"}
    await hook.until_types(nid, ["action"])
    [call] = hook.calls(nid, answered=200)
    assert call.body["type"] == "notification.action"
    data = call.body["data"]
    assert data["user_id"] == user and data["action"] == {"index": 0, "label": "Open Ada",
                                                          "url": "https://app.example.com/orders/42"}
    assert_error(await api.http.post(f"/v1/me/feed/{nid}/actions/2", headers=mine), 422, "validation_error")

    one = await _delivered(api, tpl, user, actions=actions[1:])
    assert_error(await api.http.post(f"/v1/me/feed/{one}/actions/1", headers=mine), 404, "not_found")


async def test_bad_actions_are_refused_at_accept(api: Api) -> None:
    tpl, user = await api.template(), await api.user()
    link = {"label": "Go", "url": "https://example.com"}
    cases = [
        ([link, link, link], "actions"),
        ([{"label": "Go", "url": "javascript:alert(1)"}], "actions.0.url"),
        ([link, {"label": "Go", "url": "//evil.example.com/"}], "actions.1.url"),
        ([{"label": "Go {{ missing }}", "url": "/x"}], "data.missing"),
        ([{"label": "Go {{ name", "url": "/x"}], "actions.0.label"),
        ([{"label": "", "url": "/x"}], "actions.0.label"),
    ]
    for given, field in cases:
        r = await api.http.post("/v1/notifications", headers=api.h, json={
            "template": tpl, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"}, "actions": given})
        assert r.status_code == 422, (given, r.text)
        assert field in {d["field"] for d in r.json()["error"]["details"]}, (given, r.json())
    assert await api.stack.pool.fetchval("SELECT count(*) FROM notification WHERE user_id = $1", user) == 0


class FeedStream:
    """The events of one open `/v1/me/feed/stream`."""

    def __init__(self, response: httpx.Response):
        self._lines = response.aiter_lines()

    async def next(self, timeout_s: float = 20) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            async for line in self._lines:
                if line.startswith("data:"):
                    event: dict[str, Any] = json.loads(line.removeprefix("data:"))
                    return event
            raise AssertionError("the stream ended")
        return await asyncio.wait_for(read(), timeout_s)

    async def item(self, notification_id: str, timeout_s: float = 20) -> dict[str, Any]:
        """The next event about this item (events of other items pass by)."""
        while True:
            event = await self.next(timeout_s)
            if event["type"] == "item" and event["item"]["notification_id"] == notification_id:
                return event


@asynccontextmanager
async def feed_stream(api: Api, mine: dict[str, str]) -> AsyncIterator[FeedStream]:
    async with httpx.AsyncClient(base_url=api.stack.base_url, timeout=30) as http, \
            http.stream("GET", "/v1/me/feed/stream", headers=mine) as response:
        assert response.status_code == 200
        stream = FeedStream(response)
        first = await stream.next()  # written once subscribed: what happens after it arrives
        assert first["type"] == "counts"
        yield stream


async def test_the_stream_carries_new_and_changed_items_with_counts(api: Api) -> None:
    tpl, user = await api.template(), await api.user()
    mine = await _token(api, user)
    async with feed_stream(api, mine) as tab_one, feed_stream(api, mine) as tab_two:
        nid = (await api.send(tpl, user_id=user, channels=["in_app"]))["id"]
        for tab in (tab_one, tab_two):
            event = await tab.item(nid)
            assert event["new"] is True and event["unread_count"] == 1 and event["item"]["subject"] == "Hi Ada"
        assert (await api.http.post(f"/v1/me/feed/{nid}/read", headers=mine)).status_code == 200
        for tab in (tab_one, tab_two):  # read in one tab: the other follows
            event = await tab.item(nid)
            assert event["new"] is False and event["item"]["read_at"] is not None and event["unread_count"] == 0


async def test_a_snoozed_item_leaves_the_feed_and_comes_back_live(api: Api) -> None:
    tpl, user = await api.template(), await api.user()
    nid = await _delivered(api, tpl, user)
    mine = await _token(api, user)
    async with feed_stream(api, mine) as stream:
        until = datetime.now(UTC) + timedelta(seconds=3)
        r = await api.http.post(f"/v1/me/feed/{nid}/snooze", json={"until": until.isoformat()}, headers=mine)
        assert r.status_code == 200, r.text
        assert datetime.fromisoformat(r.json()["snoozed_until"]) == until
        hidden = await stream.item(nid)
        assert hidden["item"]["snoozed_until"] is not None and hidden["unread_count"] == 0
        page = await _feed(api, mine)
        assert page["items"] == [] and page["unread_count"] == 0
        back = await stream.item(nid, timeout_s=15)
        assert back["item"]["snoozed_until"] is None and back["unread_count"] == 1
        assert datetime.now(UTC) >= until  # brought back by its timer, not before
    assert _ids(await _feed(api, mine)) == [nid]
    for bad in ({"until": "2026-01-01T10:00:00"}, {"until": "soon"}, {},
                {"until": "0001-01-01T00:00:00+14:00"}, {"until": "9999-12-31T23:59:59Z"}):
        assert_error(await api.http.post(f"/v1/me/feed/{nid}/snooze", json=bad, headers=mine), 422,
                     "validation_error")


async def test_preferences_are_read_and_changed_by_the_user(api: Api) -> None:
    user = await api.user(preferences={"channels": {"email": False}, "quiet_hours": {"start": "22:00",
                                                                                       "end": "07:00"}})
    mine = await _token(api, user)
    r = await api.http.get("/v1/me/preferences", headers=mine)
    assert r.status_code == 200 and r.json() == {"channels": {"email": False}, "categories": {},
                                                 "quiet_hours": {"start": "22:00", "end": "07:00"}}
    r = await api.http.patch("/v1/me/preferences", json={"categories": {"news": False}}, headers=mine)
    assert r.json() == {"channels": {"email": False}, "categories": {"news": False},
                        "quiet_hours": {"start": "22:00", "end": "07:00"}}
    # Two changes at once both hold: each names only its own category.
    await asyncio.gather(*(api.http.patch("/v1/me/preferences", json={"categories": {c: False}}, headers=mine)
                           for c in ("a", "b")))
    r = await api.http.patch("/v1/me/preferences", json={"channels": {"sms": False}, "quiet_hours": None},
                             headers=mine)
    assert r.json() == {"channels": {"email": False, "sms": False},
                        "categories": {"news": False, "a": False, "b": False}, "quiet_hours": None}
    assert (await api.http.get(f"/v1/users/{user}", headers=api.h)).json()["preferences"]["categories"] == \
        {"news": False, "a": False, "b": False}
    for bad in ({"channels": {"pigeon": False}}, {"quiet_hours": {"start": "25:00", "end": "07:00"}},
                {"colour": "red"}):
        assert_error(await api.http.patch("/v1/me/preferences", json=bad, headers=mine), 422, "validation_error")


async def test_a_category_turned_off_skips_the_next_notification(api: Api) -> None:
    tpl, user = await api.template(), await api.user()
    mine = await _token(api, user)
    assert (await api.http.patch("/v1/me/preferences", json={"categories": {"news": False}},
                                 headers=mine)).status_code == 200
    skipped = (await api.send(tpl, user_id=user, channels=["in_app"], category="news"))["id"]
    await api.until_status(skipped, "skipped")
    kept = await _delivered(api, tpl, user, category="billing")
    assert _ids(await _feed(api, mine)) == [kept]


async def test_cors_answers_only_the_embedding_origins_on_the_inbox_paths(api: Api) -> None:
    user = await api.user()
    mine = await _token(api, user)
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    r = await api.http.options("/v1/me/feed/read-all", headers={"Origin": INBOX_ORIGIN, **preflight})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == INBOX_ORIGIN
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = await api.http.get("/v1/me/feed", headers={"Origin": INBOX_ORIGIN, **mine})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == INBOX_ORIGIN

    other = "http://127.0.0.1:1"
    r = await api.http.options("/v1/me/feed/read-all", headers={"Origin": other, **preflight})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    r = await api.http.get("/v1/me/feed", headers={"Origin": other, **mine})
    assert "access-control-allow-origin" not in r.headers
    # The rest of the API answers no origin at all, the embedding one included.
    r = await api.http.options("/v1/notifications", headers={"Origin": INBOX_ORIGIN, **preflight})
    assert "access-control-allow-origin" not in r.headers
    r = await api.http.get(f"/v1/users/{user}", headers={"Origin": INBOX_ORIGIN, **api.h})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


async def test_a_revoked_tokens_feed_is_401_at_once(api: Api) -> None:
    user = await api.user()
    r = await api.http.post(f"/v1/users/{user}/tokens", json={"ttl": "1h"}, headers=api.h)
    token = r.json()
    mine = api.stack.auth(token["token"])
    assert (await api.http.get("/v1/me/preferences", headers=mine)).status_code == 200
    assert (await api.http.delete(f"/v1/users/{user}/tokens/{token['id']}", headers=api.h)).status_code == 204
    assert_error(await api.http.get("/v1/me/feed", headers=mine), 401, "unauthorized")
