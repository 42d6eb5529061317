"""Notifications, their per-channel deliveries, attempts and timeline: the read model of each workflow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.models import FINAL_STATUSES, DeadLetter, DeadLetterResolution, StatusChange
from store.records import grouped, many, one
from store.suppressions import SuppressionRecord
from store.templates import RenderPins

if TYPE_CHECKING:
    from store.db import Connection, Executor

_COLUMNS = """id, idempotency_key, request_hash, workflow_id, status, user_id, recipient, channels, priority,
              category, template, template_version, data, send_at, last_error, created_at, updated_at,
              delivered_at, digest, digest_id, escalate, throttle, created_by, requested_locale, locale,
              (SELECT COALESCE(sum(d.attempts), 0)::int FROM delivery d WHERE d.notification_id = notification.id)
                  AS attempts"""
NOTIFICATION_COLUMNS = _COLUMNS  # for the outbox's claim, which reads notifications with its rows


@dataclass(frozen=True)
class DeliveryRecord:
    """One channel's delivery of a notification."""

    channel: str
    status: str
    provider: str | None
    attempts: int
    provider_message_id: str | None
    last_error: str | None
    confirmed_at: datetime | None  # when the provider reported that the message arrived


@dataclass(frozen=True)
class TimelineRecord:
    at: datetime
    event: str
    detail: str


@dataclass(frozen=True)
class NotificationFields:
    """What a notification is asked to be: the fields a new notification and a stored one share."""

    id: str
    idempotency_key: str
    request_hash: str
    workflow_id: str
    status: str
    user_id: str | None
    recipient: dict[str, str]
    channels: list[str]
    priority: str
    category: str | None
    template: str
    template_version: int
    data: dict[str, Any]
    send_at: datetime | None
    digest: dict[str, Any] | None = None
    escalate: dict[str, Any] | None = None
    throttle: dict[str, Any] | None = None
    created_by: str | None = None  # the API key that sent it; None for Herald's own (digests)
    requested_locale: str | None = None  # the client's `locale`, tried before the user's


@dataclass(frozen=True, kw_only=True)
class NotificationRecord(NotificationFields):
    """A notification as `_COLUMNS` reads it; `deliveries` and `timeline` are filled only by the reads that say so
    (`get_full`, and `list_notifications` for deliveries)."""

    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    digest_id: str | None
    locale: str | None
    attempts: int
    deliveries: list[DeliveryRecord] = field(default_factory=list)
    timeline: list[TimelineRecord] = field(default_factory=list)


@dataclass(frozen=True)
class ReceiptRecord:
    """A provider's acceptance of one channel's send."""

    provider: str
    provider_message_id: str
    attempt: int
    at: datetime


@dataclass(frozen=True)
class AttemptRecord:
    channel: str
    attempt: int
    at: datetime
    outcome: str
    error: str | None
    provider: str | None


@dataclass(frozen=True)
class DeadLetterRecord:
    cursor_id: int
    notification_id: str
    workflow_id: str
    channel: str
    error: str
    attempts: int
    dead_lettered_at: datetime


@dataclass(frozen=True)
class WorkflowOf:
    """A notification and the id of its workflow."""

    id: str
    workflow_id: str


@dataclass(frozen=True)
class NewNotification(NotificationFields):
    # The client's key as it was stored before keys were scoped per API key: a repeat of a request accepted
    # before then finds that notification instead of making a second one.
    legacy_key: str | None = None
    render_pins: RenderPins | None = None  # the layout's and includes' versions fixed at accept
    # The task queue whose workers start the workflow from the outbox (`store/outbox.py`), and its priority
    # there (1 first). None: no outbox row; the caller starts the workflow itself (a digest's close).
    start_queue: str | None = None
    start_rank: int = 3
    traceparent: str | None = None  # the accepting request's trace, for the start to continue
    actions: list[dict[str, str]] | None = None  # the inbox item's buttons, rendered: [{"label", "url"}]


# A row a client created before keys were scoped: no creating key, and none of Herald's own (a broadcast's
# recipient, a digest), whose keys a client could otherwise spell.
_LEGACY_CLIENT_ROW = "created_by IS NULL AND broadcast_id IS NULL AND request_hash <> 'digest'"


def _pins_json(pins: RenderPins | None) -> dict[str, object] | None:
    if pins is None:
        return None
    return {"layout": list(pins.layout) if pins.layout else None, "includes": dict(sorted(pins.includes.items()))}


# A new notification as `insert_many` reads it from its JSON document: one row per notification.
_NEW_ROWS = """jsonb_to_recordset($1::jsonb) AS new (
    id text, idempotency_key text, request_hash text, workflow_id text, status text, user_id text, recipient jsonb,
    channels text[], priority text, category text, template text, template_version int, data jsonb,
    send_at timestamptz, digest jsonb, escalate jsonb, throttle jsonb, created_by text, legacy_key text,
    requested_locale text, render_pins jsonb, actions jsonb, detail text, start_queue text, start_rank smallint,
    traceparent text, position int)"""


def _new_row(position: int, n: NewNotification) -> dict[str, Any]:
    return {"position": position,
        "id": n.id, "idempotency_key": n.idempotency_key, "request_hash": n.request_hash,
        "workflow_id": n.workflow_id, "status": n.status, "user_id": n.user_id, "recipient": n.recipient,
        "channels": n.channels, "priority": n.priority, "category": n.category, "template": n.template,
        "template_version": n.template_version, "data": n.data,
        "send_at": n.send_at.isoformat() if n.send_at else None, "digest": n.digest, "escalate": n.escalate,
        "throttle": n.throttle, "created_by": n.created_by, "legacy_key": n.legacy_key,
        "requested_locale": n.requested_locale, "render_pins": _pins_json(n.render_pins), "actions": n.actions,
        "detail": f"scheduled for {n.send_at.isoformat()}" if n.send_at else "accepted by the API",
        "start_queue": n.start_queue, "start_rank": n.start_rank, "traceparent": n.traceparent,
    }


async def insert_many(conn: Executor, rows: Sequence[NewNotification]) -> list[NotificationRecord]:
    """Stores each notification whose key no stored one holds; returns those it created (without deliveries).

    One statement, so one round trip however many rows: the rows, their deliveries, their first timeline
    events and, for each with `start_queue`, its start intent in the outbox (each inserted only with its row);
    the outbox's statement trigger wakes the workers once. Concurrent inserts of one key serialise on the unique
    indexes: the losers wait for the winner's commit and leave the row to it. The conflict names no index: the
    id and the workflow id are unique too (both derived from the key), and a loser that reaches one of their
    indexes first would otherwise fail with a unique violation instead of yielding. Rows go in id order, so two
    statements holding some keys in common wait on each other in one order and cannot deadlock; their start
    intents go in the order given, which is the order the outbox starts them in within a priority.
    """
    if not rows:
        return []
    created = await conn.fetch(
        f"""WITH new AS (
                SELECT * FROM {_NEW_ROWS}
            ), created AS (
                INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, user_id,
                    recipient, channels, priority, category, template, template_version, data, send_at, digest,
                    escalate, throttle, created_by, requested_locale, render_pins, actions)
                SELECT new.id, new.idempotency_key, new.request_hash, new.workflow_id, new.status, new.user_id,
                       new.recipient, new.channels, new.priority, new.category, new.template,
                       new.template_version, new.data, new.send_at, new.digest, new.escalate, new.throttle,
                       new.created_by, new.requested_locale, new.render_pins, new.actions
                FROM new
                -- A row-by-row probe of the key's index, and none without a legacy key: as a join (or a hashed
                -- subplan) the planner read the whole table on every accept.
                WHERE new.legacy_key IS NULL
                   OR (SELECT true FROM notification
                       WHERE idempotency_key = new.legacy_key AND {_LEGACY_CLIENT_ROW} LIMIT 1) IS NULL
                ORDER BY new.id
                ON CONFLICT DO NOTHING
                RETURNING {_COLUMNS}
            ), deliveries AS (
                INSERT INTO delivery (notification_id, channel, status)
                SELECT created.id, channel, created.status FROM created, unnest(created.channels) AS channel
            ), event AS (
                INSERT INTO notification_event (notification_id, at, event, detail)
                SELECT created.id, created.created_at, created.status, new.detail FROM created JOIN new USING (id)
            ), start_intent AS (
                INSERT INTO workflow_start (notification_id, task_queue, rank, traceparent)
                SELECT new.id, new.start_queue, new.start_rank, new.traceparent FROM created JOIN new USING (id)
                WHERE new.start_queue IS NOT NULL
                ORDER BY new.position
            )
            SELECT * FROM created""",
        [_new_row(position, n) for position, n in enumerate(rows)],
    )
    return many(NotificationRecord, created)


@dataclass(frozen=True)
class NotificationKey:
    """What finds the notification a request asks for: its key as scoped now, the id derived from it, and the
    client's key as it was stored before keys were scoped (None when the client gave no key)."""

    idempotency_key: str
    id: str
    legacy_key: str | None


async def stored_for(conn: Executor, keys: Sequence[NotificationKey]) -> list[NotificationRecord | None]:
    """For each key, the stored notification holding it, with its deliveries (what a repeat answers with); None
    where no stored notification holds it. One statement however many keys."""
    found = await conn.fetch(
        f"""SELECT k.ord, n.*
            FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k (key, legacy, id, ord)
            CROSS JOIN LATERAL (
                SELECT {_COLUMNS},
                       (SELECT COALESCE(json_agg(json_build_object(
                                   'channel', d.channel, 'status', d.status, 'provider', d.provider,
                                   'attempts', d.attempts, 'provider_message_id', d.provider_message_id,
                                   'last_error', d.last_error, 'confirmed_at', d.confirmed_at) ORDER BY d.channel),
                               '[]')
                        FROM delivery d WHERE d.notification_id = notification.id) AS deliveries
                FROM notification
                WHERE idempotency_key = k.key OR id = k.id
                   OR (k.legacy IS NOT NULL AND idempotency_key = k.legacy AND {_LEGACY_CLIENT_ROW})
                ORDER BY idempotency_key = k.key DESC LIMIT 1) n""",
        [k.idempotency_key for k in keys], [k.legacy_key for k in keys], [k.id for k in keys],
    )
    by_position: dict[int, NotificationRecord] = {}
    for row in found:
        fields = dict(row.items())
        position = fields.pop("ord")
        deliveries = [DeliveryRecord(**{**d, "confirmed_at": _timestamp(d["confirmed_at"])})
                      for d in fields.pop("deliveries")]
        by_position[position] = NotificationRecord(**fields, deliveries=deliveries)
    return [by_position.get(i) for i in range(1, len(keys) + 1)]


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def insert(conn: Executor, n: NewNotification) -> tuple[NotificationRecord, bool]:
    """Stores a notification once per idempotency key; returns (row, created): `insert_many` of one row, and
    when it was not created, the stored one holding its key (every concurrent caller sees the same one)."""
    created = await insert_many(conn, [n])
    if created:
        return created[0], True
    (found,) = await stored_for(conn, [NotificationKey(n.idempotency_key, n.id, n.legacy_key)])
    assert found is not None, "a conflicting insert must leave a row behind"
    return found, False


async def render_pins(conn: Executor, notification_id: str) -> RenderPins | None:
    """The layout's and includes' versions fixed when the notification was accepted; None when it pinned none."""
    return RenderPins.from_json(
        await conn.fetchval("SELECT render_pins FROM notification WHERE id = $1", notification_id))


async def get(conn: Executor, notification_id: str) -> NotificationRecord | None:
    """The notification alone (no deliveries, no timeline)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM notification WHERE id = $1", notification_id)
    return one(NotificationRecord, row)


async def get_full(conn: Executor, notification_id: str) -> NotificationRecord | None:
    """The notification with its deliveries and timeline, as `GET /v1/notifications/{id}` shows it."""
    notification = await get(conn, notification_id)
    if notification is None:
        return None
    deliveries = await conn.fetch(
        """SELECT channel, status, provider, attempts, provider_message_id, last_error, confirmed_at
           FROM delivery WHERE notification_id = $1 ORDER BY channel""",
        notification_id,
    )
    timeline = await conn.fetch(
        """SELECT at, event, detail FROM notification_event
           WHERE notification_id = $1 ORDER BY at, id""",
        notification_id,
    )
    return replace(notification, deliveries=many(DeliveryRecord, deliveries),
                   timeline=many(TimelineRecord, timeline))


async def list_notifications(conn: Executor, *, status: str | None, user_id: str | None, channel: str | None,
                             priority: str | None, after: tuple[datetime, str] | None,
                             limit: int, created_by: str | None = None) -> list[NotificationRecord]:
    """Each with its deliveries (no timeline)."""
    """`created_by`: only the notifications that API key created (None: every notification)."""
    after_at, after_id = after if after else (None, None)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM notification
            WHERE ($1::text IS NULL OR status = $1)
              AND ($2::text IS NULL OR user_id = $2)
              AND ($3::text IS NULL OR $3 = ANY(channels))
              AND ($4::text IS NULL OR priority = $4)
              AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
              AND ($8::text IS NULL OR created_by = $8)
            ORDER BY created_at DESC, id DESC LIMIT $7""",
        status, user_id, channel, priority, after_at, after_id, limit, created_by,
    )
    notifications = many(NotificationRecord, rows)
    if not notifications:
        return notifications
    deliveries = await conn.fetch(
        """SELECT notification_id, channel, status, provider, attempts, provider_message_id, last_error,
                  confirmed_at
           FROM delivery WHERE notification_id = ANY($1) ORDER BY channel""",
        [n.id for n in notifications],
    )
    by_id = grouped(DeliveryRecord, deliveries, by="notification_id")
    return [replace(n, deliveries=by_id.get(n.id, [])) for n in notifications]


# One transition in one statement (a single statement needs no BEGIN and COMMIT round trips of its own):
# the deliveries (an upsert: an escalation adds channels the notification was not accepted with; GREATEST: the
# attempt log may know of an attempt the workflow never heard back from), a successful attempt when there is
# one, the timeline event, and the notification's own row. The row's status trigger (status webhooks,
# 011_status_webhooks.sql) is an AFTER trigger: it fires when the whole statement is done, so it sees this
# change's deliveries and timeline event.
# A delivery that vendor feedback ended (bounced, complained, undelivered: core.models.FEEDBACK_STATUSES) keeps
# that status: the feedback can arrive before the workflow's own `delivered` record.
# A final status never changes again (core.models.FINAL_STATUSES); later records that keep it (an escalation's
# events and deliveries) still go in. A workflow task lost after its local activities ran (its worker died, or
# it timed out) runs them again on the next worker: without the guard its `processing` would reopen a
# delivered notification for a moment, and the `delivered` after it would send subscribers a second
# notification.delivered (the status trigger fires on a change of status only). The UPDATE states the guard
# again rather than reading `live`: its own WHERE is re-checked on the row's newest version when a concurrent
# write got there first, which a CTE's snapshot is not.
_STATUS_CHANGE = """
    WITH live AS (
        SELECT 1 FROM notification WHERE id = $1 AND (status = $5 OR status <> ALL ($18::text[]))
    ), deliveries AS (
        INSERT INTO delivery AS d (notification_id, channel, status, provider, attempts, provider_message_id,
                                   last_error)
        SELECT $1::text, c.channel, c.status, c.provider, c.attempts, c.provider_message_id, c.last_error
        FROM unnest($8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::text[])
             AS c (channel, status, provider, attempts, provider_message_id, last_error)
        WHERE EXISTS (SELECT 1 FROM live)
        ON CONFLICT (notification_id, channel) DO UPDATE SET
            status = CASE WHEN d.status IN ('bounced', 'complained', 'undelivered') THEN d.status
                          ELSE excluded.status END,
            provider = COALESCE(excluded.provider, d.provider), attempts = GREATEST(d.attempts, excluded.attempts),
            provider_message_id = COALESCE(excluded.provider_message_id, d.provider_message_id),
            last_error = CASE WHEN d.status IN ('bounced', 'complained', 'undelivered') THEN d.last_error
                              ELSE excluded.last_error END,
            updated_at = now()
    ), attempt AS (
        INSERT INTO delivery_attempt (notification_id, channel, attempt, outcome, error, provider)
        SELECT $1::text, $15::text, $16::int, 'delivered', NULL,
               (SELECT r.provider FROM delivery_receipt r WHERE r.notification_id = $1 AND r.channel = $15)
        WHERE $15::text IS NOT NULL
        ON CONFLICT DO NOTHING
    ), event AS (
        INSERT INTO notification_event (notification_id, at, event, detail)
        SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM live)
    )
    UPDATE notification SET status = $5, updated_at = now(), last_error = $6,
        delivered_at = COALESCE($7, delivered_at), send_at = COALESCE($14, send_at), data = COALESCE($17, data),
        locale = COALESCE($19, locale)
    WHERE id = $1 AND (status = $5 OR status <> ALL ($18::text[]))"""
_FINAL = sorted(FINAL_STATUSES)


async def apply_status_change(conn: Executor, change: StatusChange,
                              delivered: tuple[str, int] | None = None, locale: str | None = None) -> None:
    """Writes one transition, and `delivered` = (channel, attempt), a successful attempt, with it, and `locale`,
    the locale the notification was rendered with. A notification already in a final status keeps it: a change
    to another status writes nothing but the attempt."""
    ds = change.deliveries
    await conn.execute(
        _STATUS_CHANGE, change.notification_id, change.at, change.event, change.detail, change.status,
        change.last_error, change.delivered_at,
        [d.channel for d in ds], [d.status for d in ds], [d.provider for d in ds], [d.attempts for d in ds],
        [d.provider_message_id for d in ds], [d.last_error for d in ds],
        change.send_at, delivered[0] if delivered else None, delivered[1] if delivered else None, change.data,
        _FINAL, locale,
    )


async def record_delivered(conn: Executor, *, notification_id: str, channel: str, attempt: int,
                           finish: StatusChange | None) -> None:
    """The successful attempt and, when the workflow handed it over, the notification's final record: one
    statement. (The receipt is written before, on its own, the moment the provider answers.)"""
    if finish is not None:
        await apply_status_change(conn, finish, delivered=(channel, attempt))
        return
    await conn.execute(
        """INSERT INTO delivery_attempt (notification_id, channel, attempt, outcome, error, provider)
           SELECT $1, $2, $3, 'delivered', NULL,
                  (SELECT r.provider FROM delivery_receipt r WHERE r.notification_id = $1 AND r.channel = $2)
           ON CONFLICT DO NOTHING""",
        notification_id, channel, attempt,
    )


async def record_attempt(conn: Connection, *, notification_id: str, channel: str, attempt: int,
                         outcome: str, error: str | None, will_retry: bool, provider: str | None = None) -> None:
    """Writes one provider call. A failed attempt that Temporal will retry shows the notification as retrying.

    The status guard keeps a late attempt (a timed-out call that finished after all) from reopening a
    notification the workflow has already moved on.
    """
    async with conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO delivery_attempt (notification_id, channel, attempt, outcome, error, provider)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1""",
            notification_id, channel, attempt, outcome, error, provider,
        )
        if inserted is None or outcome == "delivered":
            return
        # A delivery already sent (or otherwise final) keeps its status and error: the late failure stays in
        # the attempt log only.
        await conn.execute(
            """UPDATE delivery SET attempts = GREATEST(attempts, $3), last_error = $4,
                   status = CASE WHEN $5 THEN 'retrying' ELSE status END, updated_at = now()
               WHERE notification_id = $1 AND channel = $2 AND status <> ALL ($6::text[])
                 AND NOT EXISTS (SELECT 1 FROM delivery_receipt r
                                 WHERE r.notification_id = $1 AND r.channel = $2)""",
            notification_id, channel, attempt, error, will_retry, _FINAL,
        )
        if will_retry:
            reopened = await conn.fetchval(
                """UPDATE notification SET status = 'retrying', last_error = $2, updated_at = now()
                   WHERE id = $1 AND status IN ('processing', 'retrying')
                     AND NOT EXISTS (SELECT 1 FROM delivery_receipt r
                                     WHERE r.notification_id = $1 AND r.channel = $3)
                   RETURNING 1""",
                notification_id, error, channel,
            )
            if reopened is not None:
                await conn.execute(
                    """INSERT INTO notification_event (notification_id, at, event, detail)
                       VALUES ($1, now(), 'retrying', $2)""",
                    notification_id, f"{channel} attempt {attempt} failed: {error}",
                )


async def get_receipt(conn: Executor, notification_id: str, channel: str) -> ReceiptRecord | None:
    row = await conn.fetchrow(
        """SELECT provider, provider_message_id, attempt, at FROM delivery_receipt
           WHERE notification_id = $1 AND channel = $2""",
        notification_id, channel,
    )
    return one(ReceiptRecord, row)


async def receipt_or_suppression(conn: Executor, notification_id: str, channel: str, address: str | None
                                 ) -> tuple[ReceiptRecord | None, SuppressionRecord | None]:
    """What an attempt reads under its lease, in one round trip: the delivery's receipt and, only when there is
    none, the suppression of `address` (already in its stored form; None: nothing to look up) on the channel.
    A delivery that went out keeps its receipt even if its address has been suppressed since."""
    row = await conn.fetchrow(
        """SELECT r.provider, r.provider_message_id, r.attempt, r.at, s.address, s.reason, s.source, s.created_at
           FROM (SELECT 1) one
           LEFT JOIN delivery_receipt r ON r.notification_id = $1 AND r.channel = $2
           LEFT JOIN suppression s ON r.notification_id IS NULL AND s.channel = $2 AND s.address = $3""",
        notification_id, channel, address,
    )
    assert row is not None
    if row["provider"] is not None:
        return ReceiptRecord(provider=row["provider"], provider_message_id=row["provider_message_id"],
                             attempt=row["attempt"], at=row["at"]), None
    if row["address"] is not None:
        return None, SuppressionRecord(channel=channel, address=row["address"], reason=row["reason"],
                                       source=row["source"], created_at=row["created_at"])
    return None, None


async def receipts(conn: Executor, notification_id: str) -> dict[str, ReceiptRecord]:
    """Every channel of the notification a provider accepted, by channel."""
    rows = await conn.fetch(
        """SELECT channel, provider, provider_message_id, attempt, at FROM delivery_receipt
           WHERE notification_id = $1""", notification_id)
    # (notification, channel) is a receipt's key: one a channel.
    return {channel: receipt for channel, (receipt,) in grouped(ReceiptRecord, rows, by="channel").items()}


async def save_receipt(conn: Executor, *, notification_id: str, channel: str, provider: str,
                       provider_message_id: str, attempt: int, lease_holder: str | None = None) -> None:
    """The provider's acceptance and, in the same statement, the end of the sending attempt's lease: the next
    attempt to take the lease finds the receipt."""
    await conn.execute(
        """WITH released AS (
               DELETE FROM delivery_lease WHERE notification_id = $1 AND channel = $2 AND holder = $6
           )
           INSERT INTO delivery_receipt (notification_id, channel, provider, provider_message_id, attempt)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
        notification_id, channel, provider, provider_message_id, attempt, lease_holder,
    )


async def attempt_log(conn: Executor, notification_id: str) -> list[AttemptRecord]:
    rows = await conn.fetch(
        """SELECT channel, attempt, at, outcome, error, provider FROM delivery_attempt
           WHERE notification_id = $1 ORDER BY channel, attempt""",
        notification_id,
    )
    return many(AttemptRecord, rows)


async def add_dead_letter(conn: Executor, dl: DeadLetter) -> None:
    await conn.execute(
        """INSERT INTO dead_letter (notification_id, channel, error, attempts, dead_lettered_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (notification_id, channel) WHERE resolved_at IS NULL
           DO UPDATE SET error = EXCLUDED.error, attempts = EXCLUDED.attempts""",
        dl.notification_id, dl.channel, dl.error, dl.attempts, dl.at,
    )


async def resolve_dead_letters(conn: Executor, resolution: DeadLetterResolution) -> None:
    await conn.execute(
        """UPDATE dead_letter SET resolved_at = $2, resolution = $3
           WHERE notification_id = $1 AND resolved_at IS NULL""",
        resolution.notification_id, resolution.at, resolution.resolution,
    )


# Unresolved dead letters only, in id order after the cursor: dead_letter_unresolved_idx serves the filter, the
# order and the cursor together (a plain `d.id > $2` keeps the cursor usable as an index bound in a generic
# plan), so resolved history is never read.
DEAD_LETTER_PAGE = """
    SELECT d.id AS cursor_id, d.notification_id, n.workflow_id, d.channel, d.error, d.attempts, d.dead_lettered_at
    FROM dead_letter d JOIN notification n ON n.id = d.notification_id
    WHERE d.resolved_at IS NULL AND d.id > $2 AND ($1::text IS NULL OR d.channel = $1)
    ORDER BY d.id LIMIT $3"""


async def list_dead_letters(conn: Executor, *, channel: str | None, after: int | None,
                            limit: int) -> list[DeadLetterRecord]:
    rows = await conn.fetch(DEAD_LETTER_PAGE, channel, after if after is not None else 0, limit)
    return many(DeadLetterRecord, rows)


async def open_dead_letter_ids(conn: Executor, ids: list[str] | None) -> list[str]:
    rows = await conn.fetch(
        """SELECT DISTINCT n.id FROM notification n JOIN dead_letter d ON d.notification_id = n.id
           WHERE d.resolved_at IS NULL AND n.status = 'dead_lettered'
             AND ($1::text[] IS NULL OR n.id = ANY($1))""",
        ids,
    )
    return [r["id"] for r in rows]


async def open_dead_letter_count(conn: Executor) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM dead_letter WHERE resolved_at IS NULL")
    return count


async def unchecked_starts(conn: Executor, older_than_s: float, after: tuple[datetime, str] | None,
                           limit: int) -> list[NotificationRecord]:
    """Notifications still `accepted` or `scheduled` some time after they were stored, whatever their age, that
    the reconciler has not yet seen held by Temporal, oldest first after the (created_at, id) cursor `after`.

    Either their workflow has not written a status yet (a scheduled one waits on its timer; a digest's waits
    in its window) or Temporal never heard of them (stored by an API that started workflows itself and died
    between the insert and the start). Rows still in the outbox are left to its starters. The
    reconciler asks Temporal which and marks them checked (`mark_start_checked`); notification_unchecked_idx
    holds exactly the rows this reads, so a pass costs what is left to check, not the table's size."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM notification
            WHERE status IN ('accepted', 'scheduled') AND start_checked_at IS NULL
              AND created_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM workflow_start w WHERE w.notification_id = notification.id)
              AND (created_at, id) > (coalesce($2, '-infinity'::timestamptz), coalesce($3, ''))
            ORDER BY created_at, id LIMIT $4""",
        older_than_s, after[0] if after else None, after[1] if after else None, limit,
    )
    return many(NotificationRecord, rows)


async def mark_start_checked(conn: Executor, ids: list[str]) -> None:
    """Temporal holds these notifications (their workflow, or their digest's): the reconciler need not look again."""
    await conn.execute("UPDATE notification SET start_checked_at = now() WHERE id = ANY($1::text[])", ids)


async def is_read(conn: Executor, notification_id: str) -> bool:
    """True when the notification's inbox item has been read."""
    read = await conn.fetchval("SELECT read_at IS NOT NULL FROM inbox_item WHERE notification_id = $1",
                               notification_id)
    return bool(read)


async def escalating(conn: Executor, notification_ids: list[str]) -> list[WorkflowOf]:
    """Of `notification_ids`, the ones with an escalation, whose workflows want to hear that they were read."""
    rows = await conn.fetch("SELECT id, workflow_id FROM notification WHERE id = ANY($1::text[]) "
                            "AND escalate IS NOT NULL", notification_ids)
    return many(WorkflowOf, rows)


async def set_locale(conn: Executor, notification_id: str, locale: str) -> None:
    """Records the locale the notification was rendered with (a render again writes the same)."""
    await conn.execute(
        "UPDATE notification SET locale = $2 WHERE id = $1 AND locale IS DISTINCT FROM $2", notification_id, locale)
