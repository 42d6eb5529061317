"""Delivery feedback in the read model: the deliveries a provider's message id names, and one vendor event
applied to one of them, once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many

if TYPE_CHECKING:
    from store.db import Connection, Executor

# The delivery statuses only feedback writes; once one is set, nothing changes it (see store/notifications.py).
FEEDBACK_FINAL = ["bounced", "complained", "undelivered"]


@dataclass(frozen=True)
class SentDelivery:
    """A delivery a provider accepted, found by the message id it gave, with the address it went to as far as
    the read model knows it (the `to` of the notification, else the user's field for the channel)."""

    notification_id: str
    channel: str
    provider: str
    provider_message_id: str
    address: str | None


async def sent_deliveries(conn: Executor, message_ids: list[str]) -> list[SentDelivery]:
    rows = await conn.fetch(
        """SELECT r.notification_id, r.channel, r.provider, r.provider_message_id,
                  COALESCE(n.recipient ->> r.channel, CASE r.channel WHEN 'email' THEN u.email
                                                                     WHEN 'sms' THEN u.phone
                                                                     WHEN 'push' THEN u.push_token END) AS address
           FROM delivery_receipt r
           JOIN notification n ON n.id = r.notification_id
           LEFT JOIN app_user u ON u.id = n.user_id
           WHERE r.provider_message_id = ANY ($1::text[])
           ORDER BY r.notification_id, r.channel""",
        message_ids,
    )
    return many(SentDelivery, rows)


@dataclass(frozen=True)
class Claim:
    """One event for one delivery, as `claim_all` takes it and answers what it took."""

    event_id: str
    notification_id: str
    channel: str
    kind: str


async def claim_all(conn: Connection, source: str, claims: list[Claim]) -> set[Claim]:
    """Takes each event for its delivery, unless applied before, and locks the claimed events' notifications for
    the rest of the transaction (feedback on their other deliveries waits, so "every delivery ended" is decided on
    settled rows); answers the claims taken. Rows are taken in key order, so two callbacks naming the same events
    or notifications wait for each other in one order, never in a cycle."""
    ordered = sorted(claims, key=lambda c: (c.event_id, c.notification_id, c.channel))
    rows = await conn.fetch(
        """WITH claimed AS (
               INSERT INTO feedback_event (source, event_id, notification_id, channel, kind)
               SELECT $1, e.event_id, e.notification_id, e.channel, e.kind
               FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
                    AS e (event_id, notification_id, channel, kind, position)
               ORDER BY e.position
               ON CONFLICT DO NOTHING
               RETURNING event_id, notification_id, channel, kind
           ), locked AS (
               SELECT n.id FROM notification n WHERE n.id IN (SELECT notification_id FROM claimed)
               ORDER BY n.id FOR NO KEY UPDATE
           )
           SELECT c.event_id, c.notification_id, c.channel, c.kind
           FROM claimed c JOIN locked l ON l.id = c.notification_id""",
        source, [c.event_id for c in ordered], [c.notification_id for c in ordered], [c.channel for c in ordered],
        [c.kind for c in ordered],
    )
    return set(many(Claim, rows))


@dataclass(frozen=True)
class Arrival:
    notification_id: str
    channel: str
    provider: str
    at: datetime


async def confirm_all(conn: Connection, arrivals: list[Arrival]) -> int:
    """The provider reports arrival: `confirmed_at` and its timeline entry, once, unless feedback already ended the
    delivery otherwise (a late "delivered" never overrides a bounce). Answers how many it confirmed."""
    confirmed = await conn.fetchval(
        """WITH confirmed AS (
               UPDATE delivery d SET confirmed_at = a.at, updated_at = now()
               FROM (SELECT DISTINCT ON (notification_id, channel) notification_id, channel, provider, at
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
                          AS u (notification_id, channel, provider, at)
                     ORDER BY notification_id, channel, at) a
               WHERE d.notification_id = a.notification_id AND d.channel = a.channel AND d.confirmed_at IS NULL
                 AND d.status <> ALL ($5::text[])
               RETURNING d.notification_id, d.channel, a.provider, a.at
           ), noted AS (
               INSERT INTO notification_event (notification_id, at, event, detail)
               SELECT notification_id, at, 'confirmed', channel || ': ' || provider || ' reports it arrived'
               FROM confirmed
           )
           SELECT count(*) FROM confirmed""",
        [a.notification_id for a in arrivals], [a.channel for a in arrivals], [a.provider for a in arrivals],
        [a.at for a in arrivals], FEEDBACK_FINAL,
    )
    return int(confirmed)


async def end_delivery(conn: Connection, notification_id: str, channel: str, status: str, reason: str) -> bool:
    """The delivery ends bounced, complained or undelivered; False when feedback had already ended it."""
    done = await conn.fetchval(
        """UPDATE delivery SET status = $3, last_error = $4, updated_at = now()
           WHERE notification_id = $1 AND channel = $2 AND status <> ALL ($5::text[])
           RETURNING 1""",
        notification_id, channel, status, reason, FEEDBACK_FINAL,
    )
    return done is not None


async def add_event(conn: Connection, notification_id: str, at: datetime, event: str, detail: str) -> None:
    await conn.execute(
        "INSERT INTO notification_event (notification_id, at, event, detail) VALUES ($1, $2, $3, $4)",
        notification_id, at, event, detail,
    )


async def end_if_none_arrived(conn: Connection, notification_id: str, reason: str) -> bool:
    """When every delivery of the notification ended bounced, complained or undelivered, the notification is
    `undelivered`: its timeline event first, then the status, whose trigger queues `notification.undelivered`
    for status webhooks (011_status_webhooks.sql) with that event as its detail."""
    all_failed = await conn.fetchval(
        """SELECT bool_and(status = ANY ($2::text[])) FROM delivery WHERE notification_id = $1""",
        notification_id, FEEDBACK_FINAL,
    )
    status = await conn.fetchval("SELECT status FROM notification WHERE id = $1", notification_id)
    if not all_failed or status == "undelivered":
        return False
    await conn.execute(
        """INSERT INTO notification_event (notification_id, at, event, detail)
           VALUES ($1, now(), 'undelivered', $2)""",
        notification_id, reason,
    )
    await conn.execute(
        "UPDATE notification SET status = 'undelivered', last_error = $2, updated_at = now() WHERE id = $1",
        notification_id, reason,
    )
    return True


async def queue_status_event(conn: Connection, notification_id: str, event_type: str, channel: str,
                             detail: str) -> None:
    """A delivery's bounce or complaint for status webhooks: one outbox row per live subscription that asked for
    `event_type`, shaped like the rows of a status change, plus the channel it concerns."""
    queued = await conn.fetchval(
        """WITH queued AS (
               INSERT INTO status_event (subscription_id, notification_id, type, payload)
               SELECT s.id, n.id, $2, (
                   SELECT to_jsonb(p) FROM (
                       SELECT n.id AS notification_id, n.workflow_id, n.status, n.user_id, n.channels, n.priority,
                              n.category, n.idempotency_key, $3::text AS channel, $4::text AS detail,
                              (SELECT jsonb_agg(jsonb_build_object('channel', d.channel, 'status', d.status,
                                                                   'attempts', d.attempts) ORDER BY d.channel)
                               FROM delivery d WHERE d.notification_id = n.id) AS deliveries) p)
               FROM notification n CROSS JOIN webhook_subscription s
               WHERE n.id = $1 AND s.deleted_at IS NULL AND $2 = ANY (s.events)
               RETURNING 1
           )
           SELECT count(*) FROM queued""",
        notification_id, event_type, channel, detail,
    )
    if queued:
        await conn.execute("SELECT pg_notify('herald_status_event', '')")
