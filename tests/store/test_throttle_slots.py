"""Throttle slots on real PostgreSQL: delay mode reserves each waiter a slot of its own, in arrival order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from core.ids import notification_id_for_key
from core.workflow_ids import notification_workflow_id
from store import notifications, throttle

HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _stored(pool: asyncpg.Pool) -> str:
    key = uuid.uuid4().hex
    nid = notification_id_for_key(key)
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid), status="accepted",
            user_id=None, recipient={"sim": "ok"}, channels=["sim"], priority="marketing", category="news",
            template="t", template_version=1, data={}, send_at=None))
    return nid


async def _take(pool: asyncpg.Pool, nid: str, user: str, now: datetime, reserve: bool) -> throttle.SlotDecision:
    async with pool.acquire() as conn:
        return await throttle.take_slot(conn, nid, user, "news", 2, HOUR, now, reserve=reserve)


async def test_waiters_get_the_next_free_slots_in_the_order_they_came(pool: asyncpg.Pool) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    ids = [await _stored(pool) for _ in range(6)]
    decisions = [await _take(pool, nid, user, T0, reserve=True) for nid in ids]
    assert [d.allowed for d in decisions] == [True, True, False, False, False, False]
    # Two per hour, each waiter in the first slot after those taken or reserved before it.
    assert [d.frees_at for d in decisions[2:]] == [T0 + HOUR, T0 + HOUR, T0 + 2 * HOUR, T0 + 2 * HOUR]
    # Woken early (its check ran again before its time), a waiter is told to wait for its own slot...
    early = await _take(pool, ids[4], user, T0 + HOUR, reserve=True)
    assert not early.allowed and early.frees_at == T0 + 2 * HOUR
    # ...and at its time the slot is there, whoever else asks.
    assert (await _take(pool, ids[4], user, T0 + 2 * HOUR, reserve=True)).allowed


async def test_a_send_without_delay_is_refused_and_reserves_nothing(pool: asyncpg.Pool) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    ids = [await _stored(pool) for _ in range(4)]
    for nid in ids[:3]:
        await _take(pool, nid, user, T0, reserve=True)  # two sent, one waits for T0 + 1 h
    # Half an hour later the period is still full, and the next free slot is the waiter's too.
    skipped = await _take(pool, ids[3], user, T0 + HOUR / 2, reserve=False)
    assert not skipped.allowed and skipped.frees_at == T0 + HOUR
    held = await pool.fetchval("SELECT count(*) FROM throttle_slot WHERE notification_id = $1", ids[3])
    assert held == 0  # refused without a reservation: skip mode ends it
