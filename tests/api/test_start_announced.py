"""New outbox rows reach the workers' starters by a NOTIFY sent after the accepting transaction committed, not
by one inside it (services/start_announcer.py): each way of accepting in the API announces what it wrote, and a
burst of accepts shares announcements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from services.accept import Caller, accept_many
from services.start_announcer import SETTING, StartAnnouncer
from store.db import create_pool
from store.outbox import NOTIFY_CHANNEL
from tests.api.conftest import Api, uid
from tests.conftest import database_of_its_own
from tests.services.test_accept import _body, _settings, _template_and_user

QUIET_S = 0.5  # long enough for a NOTIFY sent on commit to have arrived


class Heard:
    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self, *_: Any) -> None:
        self.count += 1
        self.event.set()

    async def one(self, timeout_s: float = 5.0) -> None:
        await asyncio.wait_for(self.event.wait(), timeout_s)
        self.event.clear()


@asynccontextmanager
async def listening(url: str) -> AsyncIterator[Heard]:
    heard = Heard()
    conn = await asyncpg.connect(url)
    await conn.add_listener(NOTIFY_CHANNEL, heard)
    try:
        yield heard
    finally:
        await conn.close()


async def _post(api: Api, path: str, **kwargs: Any) -> int:
    return (await api.http.post(path, headers=api.h, **kwargs)).status_code


async def test_each_way_of_accepting_in_the_api_announces_its_starts(api: Api) -> None:
    template, user = await api.template(), await api.user()
    body = {"template": template, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"}}
    async with listening(api.stack.settings.database_url or "") as heard:
        assert await _post(api, "/v1/notifications", json=body) == 202
        await heard.one()
        assert await _post(api, "/v1/notifications/bulk", json={"notifications": [body, body]}) == 200
        await heard.one()
        assert await _post(api, "/v1/broadcasts", json={"template": template, "channels": ["in_app"],
                                                        "data": {"name": "Ada"},
                                                        "audience": {"user_ids": [user]}}) == 202
        await heard.one()
        form = {"template": template, "data": '{"name": "Ada"}', "audience": "users", "user_ids": [user],
                "channels": "in_app", "priority": "otp", "key": uuid.uuid4().hex}
        assert await _post(api, "/ui/send", data=form) == 303
        await heard.one()


async def test_the_accepting_transaction_itself_notifies_only_without_the_api_setting(pg_server: Any) -> None:
    # A database of its own: the shared one hears the other tests' workers.
    async with database_of_its_own(pg_server, "announce") as (database_url, pool):
        await _announcing(database_url, pool)


async def _announcing(database_url: str, pool: asyncpg.Pool) -> None:
    template, user_id = await _template_and_user(pool)
    caller = Caller(key=uid("svc"), is_admin=False)
    api_pool = await create_pool(database_url, server_settings=SETTING)
    try:
        async with listening(database_url) as heard:
            await accept_many(api_pool, _settings(), [(_body(template, user_id), None)], caller)
            await asyncio.sleep(QUIET_S)
            assert heard.count == 0  # the API's connections leave it to the announcer
            await accept_many(pool, _settings(), [(_body(template, user_id), None)], caller)
            await heard.one()  # any other writer's insert announces itself on commit

            announcer = StartAnnouncer(api_pool)
            running = asyncio.create_task(announcer.run())
            try:
                for _ in range(50):  # a burst: every poke before a NOTIFY goes out is covered by it
                    announcer.poke()
                await heard.one()
                await asyncio.sleep(QUIET_S)
            finally:
                running.cancel()
            assert 1 <= announcer.sent <= 2 and heard.count == 1 + announcer.sent
    finally:
        await api_pool.close()
