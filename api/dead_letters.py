"""Resolving the dead-letter queue by signal: shared by `/v1/dlq` and the dashboard's DLQ page."""

from __future__ import annotations

import asyncpg
from temporalio.client import Client

from api import dispatch
from api.errors import ApiError, not_found
from core.models import Status
from core.workflow_ids import notification_workflow_id
from store import notifications


async def retry(pool: asyncpg.Pool, temporal: Client, ids: list[str] | None) -> int:
    """Signals `retry` to the given parked notifications (every parked one when `ids` is None); returns how many
    took the signal."""
    retried = 0
    for notification_id in await notifications.open_dead_letter_ids(pool, ids):
        if await dispatch.signal(temporal, notification_workflow_id(notification_id), "retry"):
            retried += 1
    return retried


async def discard(pool: asyncpg.Pool, temporal: Client, notification_id: str) -> None:
    row = await notifications.get(pool, notification_id)
    if row is None:
        raise not_found("notification", notification_id)
    if row["status"] != Status.DEAD_LETTERED:
        raise ApiError(409, "not_dead_lettered",
                       f"only a dead-lettered notification can be discarded; this one is {row['status']}",
                       {"status": row["status"]})
    if not await dispatch.signal(temporal, row["workflow_id"], "discard"):
        raise ApiError(409, "workflow_closed", "the dead-letter retention of this notification has ended")
