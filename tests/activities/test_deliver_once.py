"""The deliver activity on its own (temporalio's ActivityEnvironment), with real PostgreSQL and a real receiver:
a delivery that a provider accepted is never sent again, whoever runs the next attempt."""

from __future__ import annotations

import uuid

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.deliver import DeliveryActivities
from core.ids import notification_id_for_key
from core.models import DeliverInput
from core.settings import Settings
from core.workflow_ids import notification_workflow_id
from providers.registry import build_providers
from store import notifications
from tests.conftest import SECRET
from tests.receivers import HttpReceiver


async def _stored_notification(pool: asyncpg.Pool, channel: str) -> str:
    key = uuid.uuid4().hex
    nid = notification_id_for_key(key)
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h",
            workflow_id=notification_workflow_id(nid), status="processing",
            user_id=None, recipient={}, channels=[channel], priority="otp", category=None, template="t",
            template_version=1, data={}, send_at=None))
    return nid


async def test_a_second_attempt_after_success_sends_nothing(pool: asyncpg.Pool, http_receiver: HttpReceiver) -> None:
    settings = Settings(HERALD_WEBHOOK_SECRET=SECRET, HERALD_PUSH_WEBHOOK_URL=f"{http_receiver.base}/push")
    providers, second = build_providers(pool, settings), build_providers(pool, settings)
    try:
        activities = DeliveryActivities(pool, providers.chains)
        nid = await _stored_notification(pool, "push")
        token = f"tok-{uuid.uuid4().hex}"
        inp = DeliverInput(notification_id=nid, channel="push", address=token, subject="Title", body="Body",
                           user_id=None, prior_attempts=0, max_attempts=3)
        first = await ActivityEnvironment().run(activities.deliver, inp)
        # A retry whose first attempt succeeded but never reported back; then a redrive from another worker.
        again = await ActivityEnvironment().run(activities.deliver, inp)
        other_worker = DeliveryActivities(pool, second.chains)
        redrive = await ActivityEnvironment().run(other_worker.deliver, DeliverInput(
            **{**inp.__dict__, "prior_attempts": 3}))
    finally:
        await providers.aclose()
        await second.aclose()
    calls = http_receiver.for_key(token)
    assert len(calls) == 1 and calls[0].path == "/push" and calls[0].verified
    assert calls[0].body == {"token": token, "title": "Title", "body": "Body", "notification_id": nid}
    assert first.provider == "push-gateway"
    assert (again.provider_message_id, redrive.provider_message_id) == (first.provider_message_id,) * 2
    assert (again.attempt, redrive.attempt) == (1, 1)  # the attempt that actually sent it
