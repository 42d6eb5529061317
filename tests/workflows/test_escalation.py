"""Escalation on the time-skipping server: an in_app message unread after `after` is delivered on SMS too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from api.schemas import NotificationCreate
from core.models import NotificationState
from core.settings import Settings
from services.accept import Caller, accept
from store import inbox, templates, users
from tests.conftest import SECRET
from tests.receivers import HttpReceiver
from tests.workflows.conftest import Harness
from worker import herald_worker
from workflows.notification import NotificationWorkflow

ADMIN = Caller(key="env", is_admin=True)


@pytest.fixture
async def sms_harness(harness: Harness, http_receiver: HttpReceiver) -> AsyncIterator[Harness]:
    """The harness with a worker that has an SMS gateway (the HTTP receiver, which checks signatures)."""
    harness.settings = Settings(HERALD_TASK_QUEUE=f"esc-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET,
                                HERALD_SMS_WEBHOOK_URL=f"{http_receiver.base}/sms", HERALD_WORKFLOW_SANDBOX=True)
    async with herald_worker(harness.client, harness.pool, harness.settings):
        yield harness


async def finished(harness: Harness, workflow_id: str) -> NotificationState:
    """Advances skipped time until the workflow closes (a handle not from start_workflow does not skip alone)."""
    handle = harness.client.get_workflow_handle(workflow_id, result_type=NotificationState)
    for _ in range(100):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            state: NotificationState = await handle.result()
            return state
        await harness.env.sleep(timedelta(minutes=5))
    raise AssertionError("the workflow never finished")


async def escalating(harness: Harness, phone: str) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    async with harness.pool.acquire() as conn:
        await templates.create(conn, f"et-{suffix}", "Subject", "Your code is {{ code }}", None)
    user_id = f"eu-{suffix}"
    await users.create(harness.pool, user_id, {"name": "Ada", "phone": phone})
    body = NotificationCreate.model_validate({
        "user_id": user_id, "channels": ["in_app"], "template": f"et-{suffix}", "data": {"code": "42"},
        "escalate": {"after": "2h", "to": ["sms"]}})
    _, n = await accept(harness.pool, harness.settings, body, None, ADMIN)
    await harness.started_from_outbox(n.id)
    # Terminated if still running when the test ends, and recorded with HERALD_RECORD_HISTORIES.
    harness.started.append(harness.client.get_workflow_handle_for(NotificationWorkflow.run, n.workflow_id))
    return str(n.id), user_id


async def test_unread_after_two_hours_goes_out_by_sms(sms_harness: Harness, http_receiver: HttpReceiver) -> None:
    phone = f"+3362{uuid.uuid4().int % 10**7:07d}"
    start = await sms_harness.env.get_current_time()
    nid, _ = await escalating(sms_harness, phone)
    handle = sms_harness.client.get_workflow_handle(f"notification-{nid}")
    await sms_harness.env.sleep(timedelta(hours=1, minutes=59))
    assert http_receiver.for_key(phone) == []  # not yet: the two hours are not over
    result = await finished(sms_harness, handle.id)
    assert {d.channel: d.status for d in result.deliveries} == {"in_app": "delivered", "sms": "delivered"}
    (call,) = http_receiver.for_key(phone)
    assert call.verified and call.body["text"] == "Your code is 42"
    row = await sms_harness.row(nid)
    assert row["status"] == "delivered"
    assert [e["event"] for e in row["timeline"]][-3:] == ["delivered", "escalating", "escalated"]
    escalated_at = row["timeline"][-1]["at"]
    assert start + timedelta(hours=2) <= escalated_at < start + timedelta(hours=2, minutes=1)
    assert {d["channel"]: d["status"] for d in row["deliveries"]} == {"in_app": "delivered", "sms": "delivered"}


async def test_read_at_one_hour_sends_no_sms(sms_harness: Harness, http_receiver: HttpReceiver) -> None:
    from services import starting

    phone = f"+3363{uuid.uuid4().int % 10**7:07d}"
    nid, user_id = await escalating(sms_harness, phone)
    handle = sms_harness.client.get_workflow_handle(f"notification-{nid}")
    await sms_harness.wait_for(handle, "delivered")
    await sms_harness.env.sleep(timedelta(hours=1))
    assert await inbox.mark_read(sms_harness.pool, user_id, nid)
    await starting.signal_read(sms_harness.pool, sms_harness.client, [nid])  # what the read endpoint does
    await finished(sms_harness, handle.id)
    assert http_receiver.for_key(phone) == []
    row = await sms_harness.row(nid)
    assert [e["event"] for e in row["timeline"]][-2:] == ["delivered", "read"]
    assert [d["channel"] for d in row["deliveries"]] == ["in_app"]


async def test_a_read_without_the_signal_is_found_in_the_store(sms_harness: Harness,
                                                               http_receiver: HttpReceiver) -> None:
    phone = f"+3364{uuid.uuid4().int % 10**7:07d}"
    nid, user_id = await escalating(sms_harness, phone)
    handle = sms_harness.client.get_workflow_handle(f"notification-{nid}")
    await sms_harness.wait_for(handle, "delivered")
    assert await inbox.mark_read(sms_harness.pool, user_id, nid)  # no signal: say, the API lost Temporal
    await finished(sms_harness, handle.id)
    assert http_receiver.for_key(phone) == []
