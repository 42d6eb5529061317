"""Broadcasts and the pages of recipients their workflow fans out to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.workflow_ids import NOTIFICATION_PREFIX
from store.records import many, one

if TYPE_CHECKING:
    from store.db import Connection, Executor

_COLUMNS = """id, idempotency_key, request_hash, workflow_id, status, template, template_version, data, channels,
              priority, category, audience, recipients, schedule_id, created_by, locale, created_at, updated_at"""


@dataclass(frozen=True)
class NewBroadcast:
    """A broadcast as its request (or a schedule's fire) gives it."""

    id: str
    idempotency_key: str
    request_hash: str
    workflow_id: str
    template: str
    template_version: int
    data: dict[str, Any]
    channels: list[str]
    priority: str
    category: str | None
    audience: dict[str, Any]
    schedule_id: str | None = None  # the schedule whose fire made it
    created_by: str | None = None  # the API key that sent it; None for a schedule's fire
    locale: str | None = None  # every recipient's notification asks for it before its user's locale


@dataclass(frozen=True, kw_only=True)
class BroadcastRecord(NewBroadcast):
    """A stored broadcast: the request, and how far its workflow has come."""

    status: str
    recipients: int
    created_at: datetime
    updated_at: datetime


async def insert(conn: Executor, b: NewBroadcast, *, start_queue: str | None = None,
                 start_rank: int = 3) -> tuple[BroadcastRecord, bool]:
    """Inserts the broadcast, or returns the one stored before under its idempotency key and False.

    With `start_queue`, the same statement writes its start intent into the outbox (`store/outbox.py`) with
    priority `start_rank` (1 first), only when the broadcast is inserted: the workers of that task queue start
    its workflow. Without, the caller starts it (a schedule's fire, as a child workflow)."""
    row = await conn.fetchrow(
        f"""WITH created AS (
                INSERT INTO broadcast (id, idempotency_key, request_hash, workflow_id, status, template,
                                       template_version, data, channels, priority, category, audience, schedule_id,
                                       created_by, locale)
                VALUES ($1, $2, $3, $4, 'accepted', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING {_COLUMNS}
            ), start_intent AS (
                INSERT INTO workflow_start (broadcast_id, task_queue, rank)
                SELECT id, $15::text, $16::smallint FROM created WHERE $15::text IS NOT NULL
            )
            SELECT * FROM created""",
        b.id, b.idempotency_key, b.request_hash, b.workflow_id, b.template, b.template_version, b.data, b.channels,
        b.priority, b.category, b.audience, b.schedule_id, b.created_by, b.locale, start_queue, start_rank,
    )
    created = row is not None
    if row is None:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM broadcast WHERE idempotency_key = $1",
                                  b.idempotency_key)
    record = one(BroadcastRecord, row)
    assert record is not None
    return record, created


async def get(conn: Executor, broadcast_id: str) -> BroadcastRecord | None:
    return one(BroadcastRecord, await conn.fetchrow(f"SELECT {_COLUMNS} FROM broadcast WHERE id = $1", broadcast_id))


async def get_many(conn: Executor, broadcast_ids: list[str]) -> list[BroadcastRecord]:
    return many(BroadcastRecord, await conn.fetch(f"SELECT {_COLUMNS} FROM broadcast WHERE id = ANY($1::text[])",
                                                  broadcast_ids))


async def counts(conn: Executor, broadcast_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM notification WHERE broadcast_id = $1 GROUP BY status", broadcast_id
    )
    return {r["status"]: r["n"] for r in rows}


async def set_status(conn: Executor, broadcast_id: str, status: str, recipients: int) -> None:
    await conn.execute(
        "UPDATE broadcast SET status = $2, recipients = $3, updated_at = now() WHERE id = $1",
        broadcast_id, status, recipients,
    )


async def prepare_page(conn: Connection, broadcast: BroadcastRecord, after: str | None, limit: int, *,
                       start_queue: str, start_rank: int) -> list[str]:
    """The next page of the audience (users ordered by id, after `after`), each given its notification row and,
    with it, its start intent in the outbox of `start_queue` (priority `start_rank`): the workers start the
    recipients' workflows as they start single sends.

    Rows that exist already (a page prepared again after a crash or a retry) are left alone, and get no second
    intent: ON CONFLICT on the recipient's idempotency key. Returns the page's user ids. Each row's id and
    workflow id are those of core.workflow_ids (`broadcast_recipient_notification_id`,
    `notification_workflow_id`), built here in SQL: `$1 || '-' || p.id`, and that behind `$7`, the notification
    workflow prefix.
    """
    audience = broadcast.audience
    async with conn.transaction():
        rows = await conn.fetch(
            """WITH page AS (
                   SELECT id FROM app_user
                   WHERE ($2::text IS NULL OR id > $2)
                     AND ($3::text[] IS NULL OR id = ANY($3))
                     AND ($4::text IS NULL OR topics @> ARRAY[$4]::text[])
                   ORDER BY id LIMIT $5
               ), inserted AS (
                   INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, user_id,
                                             channels, priority, category, template, template_version, data,
                                             broadcast_id, created_by, requested_locale)
                   SELECT $1 || '-' || p.id, 'broadcast:' || $1 || ':' || p.id, b.request_hash,
                          $7 || $1 || '-' || p.id, 'accepted', p.id, b.channels, b.priority,
                          b.category, b.template, b.template_version, b.data, $1, b.created_by, b.locale
                   FROM page p CROSS JOIN broadcast b WHERE b.id = $1
                   ON CONFLICT (idempotency_key) DO NOTHING
                   RETURNING id, created_at
               ), deliveries AS (
                   INSERT INTO delivery (notification_id, channel, status)
                   SELECT i.id, c, 'accepted' FROM inserted i CROSS JOIN unnest($6::text[]) AS c
               ), events AS (
                   INSERT INTO notification_event (notification_id, at, event, detail)
                   SELECT i.id, i.created_at, 'accepted', 'part of broadcast ' || $1 FROM inserted i
               ), intents AS (
                   INSERT INTO workflow_start (notification_id, task_queue, rank)
                   SELECT i.id, $8, $9 FROM inserted i
               )
               SELECT id FROM page ORDER BY id""",
            broadcast.id, after, audience.get("user_ids"), audience.get("topic"), limit, broadcast.channels,
            NOTIFICATION_PREFIX, start_queue, start_rank,
        )
    return [r["id"] for r in rows]


async def open_notification_ids(conn: Executor, broadcast_id: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT id FROM notification WHERE broadcast_id = $1
           AND status NOT IN ('delivered', 'canceled', 'discarded', 'skipped')""",
        broadcast_id,
    )
    return [r["id"] for r in rows]


async def cancel_unstarted_recipients(conn: Executor, broadcast_id: str) -> int:
    """Cancels the broadcast's recipients whose start still waits in the outbox and no worker holds: their intents
    leave it, and each notification, its deliveries and its timeline say `canceled`, in one statement (the status
    trigger runs at its end and sees all of it). Returns how many; those a worker is starting now are left."""
    rows = await conn.fetch(
        """WITH dropped AS (
               DELETE FROM workflow_start w USING notification n
               WHERE w.notification_id = n.id AND n.broadcast_id = $1 AND w.available_at <= clock_timestamp()
               RETURNING n.id
           ), deliveries AS (
               UPDATE delivery SET status = 'canceled', updated_at = now()
               WHERE notification_id IN (SELECT id FROM dropped)
           ), events AS (
               INSERT INTO notification_event (notification_id, at, event, detail)
               SELECT id, now(), 'canceled', 'canceled with its broadcast before it started' FROM dropped
           )
           UPDATE notification SET status = 'canceled', updated_at = now()
           WHERE id IN (SELECT id FROM dropped) RETURNING id""",
        broadcast_id,
    )
    return len(rows)


async def recipients_starting(conn: Executor, broadcast_id: str) -> bool:
    """True while some recipient's start is still in the outbox (a worker holds it, or it waits for a retry)."""
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM workflow_start w JOIN notification n ON n.id = w.notification_id
                          WHERE n.broadcast_id = $1)""", broadcast_id)
    return found
