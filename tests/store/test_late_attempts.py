"""A failed attempt recorded late (a timed-out call that ended after its delivery was sent or settled) is kept
in the attempt log and changes nothing else: no delivery or notification goes back to `retrying`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from core.ids import notification_id_for_key
from core.models import DeliveryState, StatusChange
from core.workflow_ids import notification_workflow_id
from store import notifications


async def _processing(pool: asyncpg.Pool, channels: list[str]) -> str:
    key = uuid.uuid4().hex
    nid = notification_id_for_key(key)
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid), status="accepted",
            user_id=None, recipient={}, channels=channels, priority="transactional", category=None,
            template="t", template_version=1, data={}, send_at=None))
    await notifications.apply_status_change(pool, _change(nid, "processing", {c: "processing" for c in channels}))
    return nid


def _change(nid: str, status: str, deliveries: dict[str, str]) -> StatusChange:
    return StatusChange(notification_id=nid, status=status, event=status, at=datetime.now(UTC), detail=status,
                        delivered_at=datetime.now(UTC) if status == "delivered" else None,
                        deliveries=[DeliveryState(channel=c, status=s, provider="sim", attempts=1)
                                    for c, s in deliveries.items()])


async def _late_failure(pool: asyncpg.Pool, nid: str, channel: str, attempt: int) -> None:
    async with pool.acquire() as conn:
        await notifications.record_attempt(conn, notification_id=nid, channel=channel, attempt=attempt,
                                           outcome="failed", error="sim: timed out", will_retry=True)


async def _state(pool: asyncpg.Pool, nid: str) -> tuple[str, dict[str, tuple[str, str | None]], list[str]]:
    full = await notifications.get_full(pool, nid)
    assert full is not None
    return (full.status, {d.channel: (d.status, d.last_error) for d in full.deliveries},
            [t.event for t in full.timeline])


async def test_a_late_failure_after_delivery_changes_no_status(pool: asyncpg.Pool) -> None:
    nid = await _processing(pool, ["sim"])
    await notifications.save_receipt(pool, notification_id=nid, channel="sim", provider="sim",
                                     provider_message_id="m-1", attempt=2)
    await notifications.record_delivered(pool, notification_id=nid, channel="sim", attempt=2,
                                         finish=_change(nid, "delivered", {"sim": "delivered"}))
    await _late_failure(pool, nid, "sim", 1)
    status, deliveries, events = await _state(pool, nid)
    assert status == "delivered" and deliveries == {"sim": ("delivered", None)}
    assert "retrying" not in events
    log = await notifications.attempt_log(pool, nid)
    assert [(a.attempt, a.outcome) for a in log] == [(1, "failed"), (2, "delivered")]


async def test_a_late_failure_after_the_receipt_but_before_the_final_record_changes_no_status(
        pool: asyncpg.Pool) -> None:
    """The receipt is written the moment the provider accepts; the workflow's `delivered` comes after."""
    nid = await _processing(pool, ["sim"])
    await notifications.save_receipt(pool, notification_id=nid, channel="sim", provider="sim",
                                     provider_message_id="m-1", attempt=2)
    await _late_failure(pool, nid, "sim", 1)
    status, deliveries, events = await _state(pool, nid)
    assert status == "processing" and deliveries["sim"][0] == "processing"
    assert "retrying" not in events


async def test_a_late_failure_on_a_canceled_delivery_keeps_it_canceled(pool: asyncpg.Pool) -> None:
    nid = await _processing(pool, ["sim", "webhook"])
    await notifications.apply_status_change(pool, _change(nid, "canceled", {"sim": "canceled",
                                                                          "webhook": "canceled"}))
    await _late_failure(pool, nid, "sim", 1)
    status, deliveries, events = await _state(pool, nid)
    assert status == "canceled" and deliveries["sim"] == ("canceled", None)
    assert "retrying" not in events


async def test_a_failure_on_a_live_delivery_still_shows_retrying(pool: asyncpg.Pool) -> None:
    """The guard is for late records only: a failure while the delivery runs is shown as before, also when
    another channel of the notification has already been sent."""
    nid = await _processing(pool, ["sim", "webhook"])
    await notifications.save_receipt(pool, notification_id=nid, channel="webhook", provider="webhook",
                                     provider_message_id="m-1", attempt=1)
    await _late_failure(pool, nid, "sim", 1)
    status, deliveries, events = await _state(pool, nid)
    assert status == "retrying" and deliveries["sim"] == ("retrying", "sim: timed out")
    assert events[-1] == "retrying"
