"""Reading notifications for the REST routes and the dashboard's activity pages: pages of them, one with its
deliveries and timeline, its attempt log."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from core.errors import not_found
from store import notifications
from store.notifications import AttemptRecord, NotificationRecord


async def page(pool: asyncpg.Pool, *, status: str | None = None, user_id: str | None = None,
               channel: str | None = None, priority: str | None = None, after: tuple[datetime, str] | None = None,
               limit: int, created_by: str | None = None) -> list[NotificationRecord]:
    """Newest first after the (created_at, id) cursor `after`, each with its deliveries. `created_by`: only the
    notifications that API key created (None: every notification)."""
    return await notifications.list_notifications(pool, status=status, user_id=user_id, channel=channel,
                                                  priority=priority, after=after, limit=limit,
                                                  created_by=created_by)


async def find(pool: asyncpg.Pool, notification_id: str) -> NotificationRecord | None:
    """The notification with its deliveries and timeline, or None."""
    return await notifications.get_full(pool, notification_id)


async def get(pool: asyncpg.Pool, notification_id: str, *, owner: str | None = None) -> NotificationRecord:
    """The notification with its deliveries and timeline. `owner`: the API key the caller may see notifications
    of (None: any); another key's is not found, as one that does not exist."""
    row = await notifications.get_full(pool, notification_id)
    if row is None or (owner is not None and row.created_by != owner):
        raise not_found("notification", notification_id)
    return row


async def attempts(pool: asyncpg.Pool, notification_id: str) -> list[AttemptRecord]:
    return await notifications.attempt_log(pool, notification_id)
