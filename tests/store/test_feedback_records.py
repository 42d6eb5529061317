"""Feedback and the workflow's own records on real PostgreSQL: a bounce that arrives before the workflow has
written `delivered` (a vendor's callback can beat the workflow task) is not overwritten by it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from core.ids import notification_id_for_key
from core.models import DeliveryState, StatusChange
from core.workflow_ids import notification_workflow_id
from providers.feedback import FeedbackEvent
from services import feedback
from store import notifications, suppressions


async def _sent(pool: asyncpg.Pool, address: str) -> tuple[str, str]:
    """A notification whose email the provider accepted (its receipt written), still `processing` in the read
    model: (notification id, provider message id)."""
    key = uuid.uuid4().hex
    nid = notification_id_for_key(key)
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid),
            status="processing", user_id=None, recipient={"email": address, "sim": "ok"}, channels=["email", "sim"],
            priority="transactional", category=None, template="t", template_version=1, data={}, send_at=None))
    message_id = f"<{uuid.uuid4().hex}@herald.test>"
    await notifications.save_receipt(pool, notification_id=nid, channel="email", provider="smtp",
                                     provider_message_id=message_id, attempt=1)
    return nid, message_id


def _bounce(message_id: str, address: str) -> FeedbackEvent:
    return FeedbackEvent(provider_message_id=message_id, kind="bounced", permanent=True, reason="550 no such user",
                         occurred_at=None, address=address, event_id=uuid.uuid4().hex)


async def test_the_workflows_late_delivered_record_keeps_the_bounce(pool: asyncpg.Pool) -> None:
    """The sim channel is still on its way: the notification is not final, only the bounced delivery is."""
    # (With every delivery bounced the notification would be `undelivered`, final, and no record would touch it.)
    address = f"{uuid.uuid4().hex[:8]}@Example.com"
    nid, message_id = await _sent(pool, address)
    applied = await feedback.apply(pool, "src", [_bounce(message_id, address)])
    assert applied.applied == 1
    now = datetime.now(UTC)
    delivered = StatusChange(notification_id=nid, status="delivered", event="delivered", at=now,
                             detail="all channels delivered", delivered_at=now,
                             deliveries=[DeliveryState(channel="email", status="delivered", provider="smtp",
                                                       attempts=1, provider_message_id=message_id),
                                         DeliveryState(channel="sim", status="delivered", provider="sim", attempts=1)])
    async with pool.acquire() as conn:
        await notifications.record_delivered(conn, notification_id=nid, channel="email", attempt=1,
                                             finish=delivered)
    row = await notifications.get_full(pool, nid)
    assert row is not None and row.status == "delivered"  # the sim message arrived
    assert [(d.channel, d.status, d.last_error) for d in row.deliveries] == [
        ("email", "bounced", "550 no such user"), ("sim", "delivered", None)]
    suppression = await suppressions.get(pool, "email", address.lower())
    assert suppression is not None and suppression.source == "feedback"


async def test_mailguns_bracketless_id_finds_the_send(pool: asyncpg.Pool) -> None:
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    nid, message_id = await _sent(pool, address)
    applied = await feedback.apply(pool, "src", [_bounce(message_id.strip("<>"), address)])
    assert applied.applied == 1
    row = await notifications.get_full(pool, nid)
    assert row is not None and row.deliveries[0].status == "bounced"
