"""Status webhooks: post one outbox event to its subscriber, and park or release it in the webhook dead letters.

The body is built from the outbox row at post time, so the workflow's history holds only event ids (no
personal data), and an event an earlier run already delivered is never posted again: the row remembers.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.deliver import ATTEMPT_SHARE
from activities.errors import PERMANENT_DELIVERY, TRANSIENT_DELIVERY
from core import pii
from core.models import StatusPost, StatusPostResult, WebhookDeadLetter, WebhookResolution
from providers.base import PermanentDeliveryError, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import post_signed
from store import webhooks
from store.webhooks import EventToPost

log = logging.getLogger("herald.status_webhooks")

# A subscriber's Retry-After is honoured up to this, as for deliveries.
MAX_RETRY_AFTER = timedelta(hours=1)


def webhook_id(event_id: int) -> str:
    """The same on every attempt of one event: receivers deduplicate on it."""
    return f"msg_status_{event_id}"


def event_body(row: EventToPost) -> dict[str, Any]:
    """The Standard Webhooks payload: `type`, `timestamp` and `data`. Free text is masked like logs are: a
    provider's error can name an address."""
    data = dict(row.payload)
    for key in ("detail", "error"):
        if isinstance(data.get(key), str):
            data[key] = pii.mask(data[key])
    data["event_id"] = row.id
    occurred: datetime = row.occurred_at
    return {"type": f"notification.{row.type}",
            "timestamp": occurred.astimezone(UTC).isoformat().replace("+00:00", "Z"), "data": data}


class StatusWebhookActivities:
    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient, secret: str, allow: Allowlist,
                 timeout_s: float = 10.0):
        self._pool = pool
        self._timeout_s = timeout_s
        self._client = client
        self._secret = secret
        self._allow = allow

    @activity.defn(name="post_status_event")
    async def post_status_event(self, post: StatusPost) -> StatusPostResult:
        row = await webhooks.event_to_post(self._pool, post.event_id)
        if row is None:  # pruned: it ended long ago
            return StatusPostResult(outcome="already_done")
        if row.outcome is not None:
            return StatusPostResult(outcome="already_done")
        if row.deleted:
            await webhooks.finish(self._pool, post.event_id, "canceled")
            metrics.status_webhook("canceled", None)
            return StatusPostResult(outcome="canceled")
        started = time.monotonic()
        # The post ends before the activity's timeout, as a delivery's does: the next attempt never overlaps it.
        attempt_timeout = activity.info().start_to_close_timeout
        deadline = min(self._timeout_s, attempt_timeout.total_seconds() * ATTEMPT_SHARE if attempt_timeout
                       else self._timeout_s)
        try:
            await post_signed(self._client, name="status-webhook", url=row.url, secret=self._secret,
                              webhook_id=webhook_id(post.event_id), payload=event_body(row), allow=self._allow,
                              deadline_s=deadline)
        except PermanentDeliveryError as exc:
            await webhooks.record_attempt(self._pool, post.event_id, exc.message)
            self._observe(row, "rejected", started, exc.message)
            raise ApplicationError(exc.message, type=PERMANENT_DELIVERY, non_retryable=True) from exc
        except TransientDeliveryError as exc:
            await webhooks.record_attempt(self._pool, post.event_id, exc.message)
            self._observe(row, "failed", started, exc.message)
            delay = (min(timedelta(seconds=exc.retry_after_s), MAX_RETRY_AFTER)
                     if exc.retry_after_s is not None else None)
            raise ApplicationError(exc.message, type=TRANSIENT_DELIVERY, next_retry_delay=delay) from exc
        await webhooks.record_attempt(self._pool, post.event_id, None)
        await webhooks.finish(self._pool, post.event_id, "delivered")
        self._observe(row, "delivered", started, None)
        return StatusPostResult(outcome="delivered")

    @activity.defn(name="dead_letter_status_event")
    async def dead_letter(self, dl: WebhookDeadLetter) -> None:
        workflow_id = activity.info().workflow_id or ""
        await webhooks.add_dead_letter(self._pool, dl.event_id, workflow_id, dl.error, dl.at)
        log.warning("status webhook dead-lettered", extra={"workflow_id": workflow_id,
                                                           "error": dl.error, "outcome": "dead_lettered"})
        metrics.status_webhook_dead_letters(await webhooks.open_dead_letter_count(self._pool))

    @activity.defn(name="resolve_status_dead_letter")
    async def resolve(self, resolution: WebhookResolution) -> None:
        async with self._pool.acquire() as conn:
            await webhooks.resolve_dead_letter(conn, resolution.event_id, resolution.resolution, resolution.at)
        metrics.status_webhook_dead_letters(await webhooks.open_dead_letter_count(self._pool))

    def _observe(self, row: EventToPost, outcome: str, started: float, error: str | None) -> None:
        metrics.status_webhook(outcome, time.monotonic() - started)
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        log.log(level, "status webhook %s", outcome, extra={
            "notification_id": row.notification_id, "workflow_id": activity.info().workflow_id,
            "attempt": activity.info().attempt, "outcome": outcome, "error": error})
