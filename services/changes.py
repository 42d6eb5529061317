"""In-flight changes to one notification, shared by the REST routes and the dashboard.

Each is a Temporal Update on the notification's workflow, whose validator decides whether it is still in time:
the API checks only what it can know (the notification exists, is not final, the new data renders) and
answers with the notification as the workflow's change left it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from temporalio.client import Client

from core.errors import Problem, not_found
from core.models import FINAL_STATUSES, DataEdit, Reschedule
from services import starting, template_parts
from services.rendering import render_or_422
from store import digests, notifications, templates
from store.notifications import NotificationRecord


async def reschedule(pool: asyncpg.Pool, temporal: Client, notification_id: str, send_at: datetime, *,
                     owner: str | None = None) -> NotificationRecord:
    row = await _changeable(pool, notification_id, owner)
    await starting.update(temporal, row.workflow_id, "reschedule", Reschedule(send_at=send_at))
    return await _get(pool, notification_id)


async def send_now(pool: asyncpg.Pool, temporal: Client, notification_id: str, *,
                   owner: str | None = None) -> NotificationRecord:
    row = await _changeable(pool, notification_id, owner)
    await starting.update(temporal, row.workflow_id, "send_now")
    return await _get(pool, notification_id)


async def edit_data(pool: asyncpg.Pool, temporal: Client, notification_id: str, data: dict[str, Any], *,
                    owner: str | None = None) -> NotificationRecord:
    row = await _changeable(pool, notification_id, owner)
    template, user = await templates.get_with_user(pool, row.template, row.template_version, row.user_id)
    if template is None:
        raise Problem(409, "template_unavailable", f"template '{row.template}' version "
                      f"{row.template_version} no longer exists; the notification cannot be rendered")
    # The new data must render, as at accept, with the layout and include versions the notification pinned.
    composition = await template_parts.pinned(pool, template, await notifications.render_pins(pool, row.id))
    await render_or_422(template, data, user, row.requested_locale, composition=composition)
    await starting.update(temporal, row.workflow_id, "edit_data", DataEdit(data=data))
    return await _get(pool, notification_id)


async def cancel(pool: asyncpg.Pool, temporal: Client, notification_id: str) -> NotificationRecord:
    """Cancels by signal; a notification waiting in its digest's window has no workflow of its own and is canceled
    in the read model, unless the window's close has absorbed it first."""
    row = await _get(pool, notification_id)
    if row.status in FINAL_STATUSES:
        raise Problem(409, "already_final", f"the notification is already {row.status}", {"status": row.status})
    if row.digest:
        async with pool.acquire() as conn:
            if not await digests.cancel_waiting(conn, notification_id):
                now = await _get(pool, notification_id)
                raise Problem(409, "too_late", f"too late to cancel: the notification is {now.status}",
                              {"status": now.status})
        return await _get(pool, notification_id)
    if not await starting.signal(temporal, row.workflow_id, "cancel"):
        raise Problem(409, "workflow_closed", "the notification's workflow has closed; nothing to cancel",
                      {"status": row.status})
    return row


async def _changeable(pool: asyncpg.Pool, notification_id: str, owner: str | None) -> NotificationRecord:
    """`owner`: the API key the caller may change notifications of (None: any); another key's is not found."""
    row = await _get(pool, notification_id)
    if owner is not None and row.created_by != owner:
        raise not_found("notification", notification_id)
    if row.status in FINAL_STATUSES:
        raise Problem(409, "too_late", f"too late: the notification is already {row.status}",
                      {"status": row.status})
    if row.digest:
        raise Problem(409, "in_digest", "this notification waits in its digest, which is sent when the window "
                      "ends; it cannot be changed on its own", {"status": row.status})
    return row


async def _get(pool: asyncpg.Pool, notification_id: str) -> NotificationRecord:
    row = await notifications.get_full(pool, notification_id)
    if row is None:
        raise not_found("notification", notification_id)
    return row
