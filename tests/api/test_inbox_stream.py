"""The inbox stream (Server-Sent Events) read by a real HTTP client: items arrive as they are delivered, only to
their own user, and a reconnect with Last-Event-ID catches up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from tests.api.test_conventions import assert_error


class EventReader:
    """Reads events off an open SSE response, one at a time."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self._lines = response.aiter_lines()

    async def ready(self) -> None:
        """The stream's first line is written once the server has subscribed: events sent after it arrive."""
        line = await asyncio.wait_for(anext(self._lines), 10)
        assert line.startswith("retry:"), line

    async def next_event(self, timeout_s: float = 20) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            event: dict[str, Any] = {}
            async for line in self._lines:
                if line == "" and "data" in event:
                    return event
                field, _, value = line.partition(":")
                if field == "data":
                    event["data"] = json.loads(value.strip())
                elif field == "id":
                    event["id"] = value.strip()
            raise AssertionError("the stream ended")
        return await asyncio.wait_for(read(), timeout_s)


@asynccontextmanager
async def open_stream(api: Api, user_id: str, key: str, last_event_id: str | None = None
                      ) -> AsyncIterator[EventReader]:
    headers = {"Authorization": f"Bearer {key}", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    async with httpx.AsyncClient(base_url=api.stack.base_url, timeout=30) as http, \
            http.stream("GET", f"/v1/users/{user_id}/inbox/stream", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = EventReader(response)
        await reader.ready()
        yield reader


async def _token(api: Api, user_id: str) -> str:
    token: str = (await api.http.post(f"/v1/users/{user_id}/tokens", headers=api.h)).json()["token"]
    return token


async def test_new_items_arrive_on_their_own_users_stream_only(api: Api) -> None:
    template = await api.template()
    alice, bob = await api.user(), await api.user()
    alice_token, bob_token = await _token(api, alice), await _token(api, bob)
    async with open_stream(api, alice, alice_token) as alice_stream, open_stream(api, bob, bob_token) as bob_stream:
        sent = await api.send(template, user_id=alice, channels=["in_app"])
        event = await alice_stream.next_event()
        assert event["id"] == sent["id"]
        assert event["data"]["notification_id"] == sent["id"]
        assert event["data"]["subject"] == "Hi Ada" and event["data"]["body"] == "Hello Ada"
        assert event["data"]["read"] is False and event["data"]["unread_count"] == 1
        # Bob's stream stays silent: Alice's item is not his (only a keep-alive could come, after 15 s).
        with pytest.raises(TimeoutError):
            await bob_stream.next_event(timeout_s=1.5)
        second = await api.send(template, user_id=alice, channels=["in_app"], data={"name": "Bea"})
        event = await alice_stream.next_event()
        assert event["id"] == second["id"] and event["data"]["body"] == "Hello Bea"
        assert event["data"]["unread_count"] == 2


async def test_reconnecting_with_last_event_id_replays_what_was_missed(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    token = await _token(api, user_id)
    ids = []
    for name in ("One", "Two", "Three"):
        ids.append((await api.send(template, user_id=user_id, channels=["in_app"], data={"name": name}))["id"])
        await api.until_status(ids[-1], "delivered")
    async with open_stream(api, user_id, token, last_event_id=ids[0]) as stream:
        replayed = [await stream.next_event(), await stream.next_event()]
        assert [e["id"] for e in replayed] == ids[1:]
        assert [e["data"]["body"] for e in replayed] == ["Hello Two", "Hello Three"]


async def test_the_admin_may_stream_any_inbox(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    async with open_stream(api, user_id, api.stack.admin_key) as stream:
        sent = await api.send(template, user_id=user_id, channels=["in_app"])
        assert (await stream.next_event())["id"] == sent["id"]


async def test_stream_authorization_matches_the_other_inbox_routes(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    alice_token = await _token(api, alice)
    assert_error(await api.http.get(f"/v1/users/{alice}/inbox/stream"), 401, "unauthorized")
    assert_error(await api.http.get(f"/v1/users/{alice}/inbox/stream", headers={"Authorization": "Bearer nope"}),
                 401, "unauthorized")
    assert_error(await api.http.get(f"/v1/users/{bob}/inbox/stream", headers={"Authorization":
                                                                                 f"Bearer {alice_token}"}),
                 404, "not_found")
    assert_error(await api.http.get("/v1/users/nobody-here/inbox/stream", headers=api.h), 404, "not_found")


async def test_a_lost_listening_connection_ends_streams_and_a_reconnect_catches_up(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    token = await _token(api, user_id)
    async with open_stream(api, user_id, token) as stream:
        first = await api.send(template, user_id=user_id, channels=["in_app"])
        assert (await stream.next_event())["id"] == first["id"]
        # PostgreSQL drops the API's LISTEN connection (a restart, a failover): the open stream ends at once.
        killed = await api.stack.pool.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND query ILIKE 'LISTEN%herald_inbox%'""")
        assert killed == 1
        with pytest.raises(AssertionError, match="the stream ended"):
            await stream.next_event(timeout_s=10)
    missed = await api.send(template, user_id=user_id, channels=["in_app"], data={"name": "missed"})
    await api.until_status(missed["id"], "delivered")
    # The client reconnects as EventSource does, with the last id it saw: the missed item comes first, then
    # live ones again (the feed listens anew).
    async with open_stream(api, user_id, token, last_event_id=first["id"]) as stream:
        assert (await stream.next_event())["id"] == missed["id"]
        live = await api.send(template, user_id=user_id, channels=["in_app"], data={"name": "live"})
        assert (await stream.next_event())["id"] == live["id"]
