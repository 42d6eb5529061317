"""The dead-letter queue: reading it, and resolving it by signal; shared by `/v1/dlq`, a notification's retry
and the dashboard's DLQ and activity pages."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client

from core.errors import Problem, not_found
from core.models import Status
from core.workflow_ids import notification_workflow_id
from services import starting
from store import notifications
from store.notifications import DeadLetterRecord, NotificationRecord


async def retry(pool: asyncpg.Pool, temporal: Client, ids: list[str] | None) -> int:
    """Signals `retry` to the given parked notifications (every parked one when `ids` is None); returns how many
    took the signal."""
    retried = 0
    for notification_id in await notifications.open_dead_letter_ids(pool, ids):
        if await starting.signal(temporal, notification_workflow_id(notification_id), "retry"):
            retried += 1
    return retried


async def retry_one(pool: asyncpg.Pool, temporal: Client, notification_id: str) -> NotificationRecord:
    """Signals `retry` to one notification, refusing with 409 unless it is parked."""
    return await _signal_parked(pool, temporal, notification_id, "retry", "retried", full=True)


async def page(pool: asyncpg.Pool, *, channel: str | None, after: int | None,
               limit: int) -> list[DeadLetterRecord]:
    """Unresolved dead letters in id order after the cursor `after`."""
    return await notifications.list_dead_letters(pool, channel=channel, after=after, limit=limit)


async def open_ids(pool: asyncpg.Pool) -> list[str]:
    """Every notification parked now."""
    return await notifications.open_dead_letter_ids(pool, None)


async def discard(pool: asyncpg.Pool, temporal: Client, notification_id: str) -> None:
    await _signal_parked(pool, temporal, notification_id, "discard", "discarded", full=False)


async def _signal_parked(pool: asyncpg.Pool, temporal: Client, notification_id: str, signal: str, done: str, *,
                         full: bool) -> NotificationRecord:
    """Signals one parked notification's workflow; 404 when there is no such notification, 409 unless it is
    dead-lettered or when its workflow has ended. `full` reads its deliveries and timeline too."""
    row = await (notifications.get_full if full else notifications.get)(pool, notification_id)
    if row is None:
        raise not_found("notification", notification_id)
    if row.status != Status.DEAD_LETTERED:
        raise Problem(409, "not_dead_lettered",
                      f"only a dead-lettered notification can be {done}; this one is {row.status}",
                      {"status": row.status})
    if not await starting.signal(temporal, row.workflow_id, signal):
        raise Problem(409, "workflow_closed", "the dead-letter retention of this notification has ended; "
                      "send it again as a new notification", {"status": row.status})
    return row
