"""Every read of the notification store returns frozen records with typed fields, never a dict row."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from core.ids import notification_id_for_key
from core.models import DeadLetter
from core.workflow_ids import notification_workflow_id
from store import notifications
from store.notifications import (
    AttemptRecord,
    DeadLetterRecord,
    DeliveryRecord,
    NotificationRecord,
    ReceiptRecord,
    TimelineRecord,
    WorkflowOf,
)


def _frozen_record(value: Any, kind: type) -> None:
    assert isinstance(value, kind) and dataclasses.is_dataclass(value), type(value)
    first = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, first, None)


async def test_each_read_returns_frozen_records(pool: asyncpg.Pool) -> None:
    key = f"records-{uuid.uuid4().hex}"
    nid = notification_id_for_key(key)
    user_id = f"ru-{uuid.uuid4().hex[:8]}"
    stored, created = await notifications.insert(pool, notifications.NewNotification(
        id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid),
        status="accepted", user_id=user_id, recipient={"sim": "ok"}, channels=["sim"], priority="transactional",
        category=None, template="t", template_version=1, data={"name": "Ada"}, send_at=None,
        escalate={"after": "1h", "to": ["sms"]}))
    assert created
    _frozen_record(stored, NotificationRecord)
    assert stored.data == {"name": "Ada"} and stored.recipient == {"sim": "ok"} and stored.attempts == 0

    full = await notifications.get_full(pool, nid)
    assert full is not None
    _frozen_record(full, NotificationRecord)
    (delivery,) = full.deliveries
    _frozen_record(delivery, DeliveryRecord)
    (event,) = full.timeline
    _frozen_record(event, TimelineRecord)

    (listed,) = await notifications.list_notifications(pool, status=None, user_id=user_id, channel=None,
                                                       priority=None, after=None, limit=10)
    _frozen_record(listed, NotificationRecord)
    assert [type(d) for d in listed.deliveries] == [DeliveryRecord]

    (escalating,) = await notifications.escalating(pool, [nid])
    _frozen_record(escalating, WorkflowOf)

    await notifications.save_receipt(pool, notification_id=nid, channel="sim", provider="sim",
                                     provider_message_id="m-1", attempt=1)
    receipt = await notifications.get_receipt(pool, nid, "sim")
    _frozen_record(receipt, ReceiptRecord)
    _frozen_record((await notifications.receipts(pool, nid))["sim"], ReceiptRecord)

    async with pool.acquire() as conn:
        await notifications.record_attempt(conn, notification_id=nid, channel="sim", attempt=1, outcome="delivered",
                                           error=None, will_retry=False)
    (attempt,) = await notifications.attempt_log(pool, nid)
    _frozen_record(attempt, AttemptRecord)

    await notifications.add_dead_letter(pool, DeadLetter(notification_id=nid, channel="sim", error="gone",
                                                         attempts=3, at=datetime.now(UTC)))
    cursor = await pool.fetchval("SELECT id FROM dead_letter WHERE notification_id = $1", nid)
    (parked,) = await notifications.list_dead_letters(pool, channel="sim", after=cursor - 1, limit=1)
    _frozen_record(parked, DeadLetterRecord)
    assert parked.notification_id == nid and parked.cursor_id == cursor
