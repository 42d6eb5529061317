"""Status changes on real PostgreSQL: a final status stays final, whatever a replayed workflow task writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from core.ids import notification_id_for_key
from core.models import DeliveryState, StatusChange
from core.workflow_ids import notification_workflow_id
from store import notifications, webhooks
from store.db import create_pool
from store.migrate import migrate_url
from tests.conftest import new_database


@pytest.fixture
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: the webhook subscription below would take every other test's events."""
    url = await new_database(pg_server, f"changes_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def _accepted(pool: asyncpg.Pool) -> str:
    """A notification stored as the API stores one (the insert writes its `accepted` event)."""
    key = uuid.uuid4().hex
    nid = notification_id_for_key(key)
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid), status="accepted",
            user_id=None, recipient={"sim": "ok"}, channels=["sim"], priority="transactional", category=None,
            template="t", template_version=1, data={}, send_at=None))
    return nid


def _change(nid: str, status: str, delivery: str, attempts: int = 0) -> StatusChange:
    return StatusChange(notification_id=nid, status=status, event=status, at=datetime.now(UTC), detail=status,
                        delivered_at=datetime.now(UTC) if status == "delivered" else None,
                        deliveries=[DeliveryState(channel="sim", status=delivery, provider="sim", attempts=attempts)])


async def test_a_replayed_workflow_task_does_not_reopen_a_delivered_notification(own_pool: asyncpg.Pool) -> None:
    pool = own_pool
    await webhooks.create(pool, "http://127.0.0.1:9/hook", ["delivered"], None)
    nid = await _accepted(pool)
    # What the workflow's one task writes: `processing` (prepare), then `delivered` with its attempt (deliver).
    await notifications.apply_status_change(pool, _change(nid, "processing", "processing"))
    await notifications.record_delivered(pool, notification_id=nid, channel="sim", attempt=1,
                                         finish=_change(nid, "delivered", "delivered", attempts=1))
    # The task's completion is lost (its worker died): the next worker runs the same local activities again.
    await notifications.apply_status_change(pool, _change(nid, "processing", "processing"))
    row = await pool.fetchrow("SELECT n.status, d.status AS delivery FROM notification n "
                              "JOIN delivery d ON d.notification_id = n.id WHERE n.id = $1", nid)
    assert row is not None and dict(row) == {"status": "delivered", "delivery": "delivered"}
    await notifications.record_delivered(pool, notification_id=nid, channel="sim", attempt=1,
                                         finish=_change(nid, "delivered", "delivered", attempts=1))

    events = await pool.fetch("SELECT event FROM notification_event WHERE notification_id = $1 ORDER BY id", nid)
    assert [e["event"] for e in events][:3] == ["accepted", "processing", "delivered"]
    assert [e["event"] for e in events].count("processing") == 1
    outbox = await pool.fetch("SELECT type FROM status_event WHERE notification_id = $1", nid)
    assert [e["type"] for e in outbox] == ["delivered"]  # subscribers hear of the delivery once
    attempts = await pool.fetch("SELECT attempt, outcome FROM delivery_attempt WHERE notification_id = $1", nid)
    assert [tuple(a) for a in attempts] == [(1, "delivered")]


async def test_a_dead_letter_can_still_be_retried(own_pool: asyncpg.Pool) -> None:
    """`dead_lettered` is not final: a retry reopens it, and its delivery is recorded."""
    pool = own_pool
    nid = await _accepted(pool)
    for status, delivery in [("processing", "processing"), ("dead_lettered", "failed"), ("processing", "processing"),
                             ("delivered", "delivered")]:
        await notifications.apply_status_change(pool, _change(nid, status, delivery))
    assert await pool.fetchval("SELECT status FROM notification WHERE id = $1", nid) == "delivered"
    events = await pool.fetch("SELECT event FROM notification_event WHERE notification_id = $1 ORDER BY id", nid)
    assert [e["event"] for e in events] == ["accepted", "processing", "dead_lettered", "processing", "delivered"]
