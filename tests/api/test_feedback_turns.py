"""A burst of feedback callbacks is handled a few statements at a time (HERALD_FEEDBACK_CONCURRENCY): the rest
wait without a database connection, so accepting a notification never waits behind them.

The API here has 3 connections and 2 feedback turns. The test holds an exclusive lock on `feedback_event`, which
every callback's statement needs, and posts 6 callbacks, arrivals and bounces in turn: exactly 2 statements reach
PostgreSQL and wait there, and an accept still answers at once on the connection left. Without the turns, the
callbacks would hold all 3 connections and the accept would wait for the lock too. Released, every callback is
answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import Api, eventually, uid
from tests.api.test_feedback import hard_bounce, mailgun_body, serving_with_lookup
from tests.conftest import Stack

TURNS, CONNECTIONS, CALLBACKS = 2, 3, 6


@pytest.fixture
async def narrow_api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The API with few connections and fewer feedback turns, taking the test's Mailgun feedback."""
    settings = stack.settings.model_copy(update={"feedback_concurrency": TURNS, "db_pool_min": 1,
                                                 "db_pool_max": CONNECTIONS})
    async with serving_with_lookup(settings) as http:
        yield http


async def waiting_on_the_lock(stack: Stack, locker: int) -> int:
    """Backends blocked behind the test's lock on feedback_event."""
    count: int = await stack.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))", locker)
    return count


async def test_a_burst_of_feedback_leaves_accepting_a_connection(stack: Stack, api: Api,
                                                                 narrow_api: httpx.AsyncClient) -> None:
    template = await api.template()
    async with stack.pool.acquire() as locker, locker.transaction():
        await locker.execute("LOCK TABLE feedback_event IN ACCESS EXCLUSIVE MODE")
        pid = locker.get_server_pid()
        callbacks = [asyncio.create_task(narrow_api.post(
            "/v1/feedback/mailgun-main", headers={"Content-Type": "application/json"},
            content=(mailgun_body(f"<{uid('unknown')}@mail.example>", "delivered", event_id=uid("ev"),
                                  recipient="ada@example.com") if n % 2 else
                     hard_bounce(f"<{uid('unknown')}@mail.example>", "ada@example.com", uid("ev")))))
            for n in range(CALLBACKS)]

        async def turns_taken() -> bool:
            return await waiting_on_the_lock(stack, pid) == TURNS
        await eventually(turns_taken, 10, f"{TURNS} statements at the lock")

        accepted = await asyncio.wait_for(narrow_api.post(
            "/v1/notifications", json={"template": template, "to": {"email": "ada@example.com"},
                                       "channels": ["email"], "data": {"name": "Ada"}}, headers=api.h), 10)
        assert accepted.status_code == 202, accepted.text
        assert await waiting_on_the_lock(stack, pid) == TURNS
        assert not any(c.done() for c in callbacks)
    answers = await asyncio.gather(*callbacks)
    assert [a.status_code for a in answers] == [200] * CALLBACKS, [a.text for a in answers]
    assert [a.json()["unknown"] for a in answers] == [1] * CALLBACKS

