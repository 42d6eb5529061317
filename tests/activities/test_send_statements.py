"""What one plain send costs PostgreSQL on the worker: the fused path's `prepare` and its one `deliver`, counted
statement by statement (each is one round trip). Every notification pays this, so a new statement here shows up
as CPU per notification: the count is pinned, and raising it is a decision, not an accident."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from activities.prepare import PrepareActivities
from core.ids import notification_id_for_key
from core.models import DeliverInput, DeliveryState, PrepareInput, RenderInput, StatusChange
from core.workflow_ids import notification_workflow_id
from providers.sim import SimProvider
from store import notifications, suppressions, templates
from tests.statements import CountingPool


async def _accepted(pool: asyncpg.Pool) -> tuple[str, str]:
    suffix = uuid.uuid4().hex
    template, nid = f"cost-{suffix[:8]}", notification_id_for_key(suffix)
    async with pool.acquire() as conn:
        await templates.create(conn, template, "Hi {{ name }}", "Hello {{ name }}", None)
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=suffix, request_hash="h", workflow_id=notification_workflow_id(nid),
            status="accepted", user_id=None, recipient={"sim": "ok"}, channels=["sim"], priority="transactional",
            category=None, template=template, template_version=1, data={"name": "Ada"}, send_at=None))
    return template, nid


def _inputs(template: str, nid: str, address: str) -> tuple[PrepareInput, DeliverInput]:
    now = datetime.now(UTC)
    prepare = PrepareInput(
        render=RenderInput(notification_id=nid, template=template, template_version=1, data={"name": "Ada"},
                           channels=["sim"], to={"sim": address}),
        processing=StatusChange(notification_id=nid, status="processing", event="processing",
                                detail="delivery started", at=now,
                                deliveries=[DeliveryState(channel="sim", status="processing")]))
    finish = StatusChange(notification_id=nid, status="delivered", event="delivered", detail="sim", at=now,
                          delivered_at=now, deliveries=[DeliveryState(channel="sim", status="processing")])
    deliver = DeliverInput(notification_id=nid, channel="sim", address=address, subject="Hi Ada",
                           body="Hello Ada", user_id=None, prior_attempts=0, max_attempts=3, attempt_in_round=1,
                           finish=finish)
    return prepare, deliver


async def test_one_send_is_six_statements_from_processing_to_delivered(pool: asyncpg.Pool) -> None:
    template, nid = await _accepted(pool)
    prepare_in, deliver_in = _inputs(template, nid, "ok")
    counting = CountingPool(pool)
    counted = cast(asyncpg.Pool, counting)

    prepared = await ActivityEnvironment().run(PrepareActivities(counted).prepare, prepare_in)
    assert prepared.rendered is not None and prepared.rendered.body == "Hello Ada"
    in_prepare = len(counting.statements)
    done = await ActivityEnvironment().run(DeliveryActivities(counted, {"sim": [SimProvider()]}).deliver, deliver_in)

    assert done.provider == "sim" and done.attempt == 1
    # prepare: one read (template, user, locale, pins) and the `processing` record.
    assert in_prepare == 2, counting.statements
    # deliver: the lease, one read under it (receipt and suppression), the receipt (which ends the lease), and
    # the successful attempt with the final record.
    sent = counting.statements[in_prepare:]
    assert len(sent) == 4, sent
    assert "INSERT INTO delivery_lease" in sent[0] and "delivery_receipt" in sent[1] and "suppression" in sent[1]
    assert "INSERT INTO delivery_receipt" in sent[2] and "UPDATE notification" in sent[3]
    stored = await notifications.get_full(pool, nid)
    assert stored is not None and stored.status == "delivered"
    assert [e.event for e in stored.timeline][-2:] == ["processing", "delivered"]
    assert [(a.attempt, a.outcome, a.provider) for a in await notifications.attempt_log(pool, nid)] == \
        [(1, "delivered", "sim")]
    assert await pool.fetchval("SELECT count(*) FROM delivery_lease WHERE notification_id = $1", nid) == 0


async def test_the_read_under_the_lease_still_sees_a_suppression_and_a_receipt(pool: asyncpg.Pool) -> None:
    template, nid = await _accepted(pool)
    address = f"ok-{uuid.uuid4().hex[:6]}"
    _, deliver_in = _inputs(template, nid, address)
    deliver_in = replace(deliver_in, finish=None)
    async with pool.acquire() as conn:
        await suppressions.add(conn, channel="sim", address=address, reason="manual", source="test")
    activities = DeliveryActivities(pool, {"sim": [SimProvider()]})
    with pytest.raises(ApplicationError, match=r"suppression list \(manual\)"):
        await ActivityEnvironment().run(activities.deliver, deliver_in)
    assert await notifications.get_receipt(pool, nid, "sim") is None

    # A receipt from before the suppression wins: the delivery went out and stays delivered, nothing is sent again.
    await notifications.save_receipt(pool, notification_id=nid, channel="sim", provider="sim",
                                     provider_message_id="sim-earlier", attempt=1)
    again = await ActivityEnvironment().run(activities.deliver, deliver_in)
    assert (again.provider_message_id, again.attempt) == ("sim-earlier", 1)
