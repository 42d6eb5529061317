"""Delivery feedback in the read model: the deliveries a provider's message id names, and each vendor event
applied to each of them, once: a callback (or callbacks applied together) is one statement when it only reports
arrivals, and two in a transaction when it ends deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Connection, Executor

# The delivery statuses only feedback writes; once one is set, nothing changes it (see store/notifications.py).
FEEDBACK_FINAL = ["bounced", "complained", "undelivered"]


@dataclass(frozen=True)
class Incoming:
    """One vendor event as `take` matches and claims it: `source` the integration whose callback carried it,
    `message_id` bare (no angle brackets), `ends` when it ends its delivery (a hard bounce, a complaint, an
    undelivery), `at` when a "delivered" says it arrived."""

    source: str
    event_id: str
    message_id: str
    kind: str
    ends: bool
    at: datetime | None


@dataclass(frozen=True)
class Taken:
    """One event (by its `position` among those taken, from 1) and a delivery its message id names, with the
    address it went to as far as the read model knows it (the `to` of the notification, else the user's field for
    the channel), and whether this statement claimed the pair (False: applied before)."""

    position: int
    notification_id: str
    channel: str
    provider: str
    address: str | None
    claimed: bool


async def take(conn: Executor, events: list[Incoming]) -> list[Taken]:
    """Matches each event to the deliveries its message id names (the receipt holds the id with or without angle
    brackets), claims each (event, delivery) unless applied before, locks the claimed events' notifications, and
    confirms the claimed arrivals of deliveries that no event taken with them ends (endings are the caller's,
    after this, so a "delivered" in the same callback as a bounce never confirms it). One statement: a callback
    of arrivals only needs no transaction; one with endings runs this first in its transaction, and the lock holds
    feedback on the same notifications' other deliveries until it ends, so "every delivery ended" is decided on
    settled rows. The events may come from several callbacks (`services.feedback.Batches`).

    Claims are inserted in key order and notifications locked in id order, a delivery updated only once its
    notification is locked: two callbacks naming the same events or notifications wait for each other in one
    order, never in a cycle. An event naming no delivery answers no row."""
    rows = await conn.fetch(
        """WITH e AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::timestamptz[])
                   WITH ORDINALITY AS e (source, event_id, message_id, kind, ends, at, position)
           ), matched AS (
               SELECT e.position, e.source, e.event_id, e.kind, e.ends, e.at, r.notification_id, r.channel, r.provider
               FROM e JOIN delivery_receipt r
                    ON r.provider_message_id = ANY (ARRAY[e.message_id, '<' || e.message_id || '>'])
           ), claimed AS (
               INSERT INTO feedback_event (source, event_id, notification_id, channel, kind)
               SELECT m.source, m.event_id, m.notification_id, m.channel, m.kind FROM matched m
               ORDER BY m.source, m.event_id, m.notification_id, m.channel, m.position
               ON CONFLICT DO NOTHING
               RETURNING source, event_id, notification_id, channel
           ), locked AS (
               SELECT n.id FROM notification n WHERE n.id IN (SELECT notification_id FROM claimed)
               ORDER BY n.id FOR NO KEY UPDATE
           ), arrivals AS (
               SELECT DISTINCT ON (m.notification_id, m.channel) m.notification_id, m.channel, m.provider, m.at
               FROM matched m
               JOIN claimed c ON (c.source, c.event_id, c.notification_id, c.channel)
                                 = (m.source, m.event_id, m.notification_id, m.channel)
               JOIN locked l ON l.id = m.notification_id
               WHERE m.kind = 'delivered' AND m.at IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM matched x WHERE x.ends AND x.notification_id = m.notification_id
                                                           AND x.channel = m.channel)
               ORDER BY m.notification_id, m.channel, m.at
           ), confirmed AS (
               UPDATE delivery d SET confirmed_at = a.at, updated_at = now()
               FROM arrivals a
               WHERE d.notification_id = a.notification_id AND d.channel = a.channel AND d.confirmed_at IS NULL
                 AND d.status <> ALL ($7::text[])
               RETURNING d.notification_id, d.channel, a.provider, a.at
           ), noted AS (
               INSERT INTO notification_event (notification_id, at, event, detail)
               SELECT notification_id, at, 'confirmed', channel || ': ' || provider || ' reports it arrived'
               FROM confirmed
           )
           SELECT m.position, m.notification_id, m.channel, m.provider,
                  COALESCE(n.recipient ->> m.channel, CASE m.channel WHEN 'email' THEN u.email
                                                                     WHEN 'sms' THEN u.phone
                                                                     WHEN 'push' THEN u.push_token END) AS address,
                  EXISTS (SELECT 1 FROM claimed c
                          WHERE (c.source, c.event_id, c.notification_id, c.channel)
                                = (m.source, m.event_id, m.notification_id, m.channel)) AS claimed
           FROM matched m
           JOIN notification n ON n.id = m.notification_id
           LEFT JOIN app_user u ON u.id = n.user_id
           -- evaluated once before any row: every claim is taken and every notification locked, arrivals or not
           WHERE (SELECT count(*) FROM locked) >= 0
           ORDER BY m.position, m.notification_id, m.channel""",
        [e.source for e in events], [e.event_id for e in events], [e.message_id for e in events],
        [e.kind for e in events], [e.ends for e in events], [e.at for e in events], FEEDBACK_FINAL,
    )
    return many(Taken, rows)


@dataclass(frozen=True)
class Ending:
    """What one claimed event does to its delivery: `event` is its timeline entry (the kind, or `soft_bounce`),
    `ends` when it ends the delivery with the status `event` and `reason`; `detail` is the timeline's text."""

    notification_id: str
    channel: str
    event: str
    ends: bool
    reason: str
    at: datetime
    detail: str


@dataclass(frozen=True)
class Ended:
    """What `end_all` did: deliveries ended, notifications now `undelivered`, status webhook rows queued."""

    deliveries: int
    notifications: int
    queued: int


async def end_all(conn: Connection, endings: list[Ending], suppress: list[tuple[str, str, str]],
                  source: str) -> Ended:
    """The endings of one callback (or of callbacks applied together, in their order), in the transaction that
    `take` claimed and locked them in, in one statement:

    - each delivery ends with the first ending the callback gives it, unless feedback had already ended it, with
      its timeline entry (a soft bounce is an entry only);
    - a bounce or a complaint queues `notification.bounced` / `notification.complained` for the status webhooks
      that asked for it: one row per subscription, shaped like the rows of a status change, with the channel it
      concerns and the deliveries as this statement leaves them, and wakes the status relays at commit (a NOTIFY
      from the same statement: the callback stays at two);
    - a notification whose every delivery has now ended bounced, complained or undelivered gets its `undelivered`
      entry, after the endings' own, then the status, whose trigger queues `notification.undelivered` for status
      webhooks (011_status_webhooks.sql) with that entry as its detail;
    - `suppress` (channel, normal address, reason), in key order, is added unless already there.
    """
    row = await conn.fetchrow(
        """WITH e AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::timestamptz[],
                                    $7::text[])
                   WITH ORDINALITY AS e (notification_id, channel, event, ends, reason, at, detail, position)
           ), firsts AS (
               SELECT DISTINCT ON (notification_id, channel) * FROM e WHERE ends
               ORDER BY notification_id, channel, position
           ), ended AS (
               UPDATE delivery d SET status = f.event, last_error = f.reason, updated_at = now()
               FROM firsts f
               WHERE d.notification_id = f.notification_id AND d.channel = f.channel
                 AND d.status <> ALL ($8::text[])
               RETURNING d.notification_id, d.channel, f.event, f.at, f.detail, f.position
           ), noted AS (
               INSERT INTO notification_event (notification_id, at, event, detail)
               SELECT notification_id, at, event, detail FROM (
                   SELECT notification_id, at, event, detail, position FROM ended
                   UNION ALL
                   SELECT notification_id, at, event, detail, position FROM e WHERE NOT ends) x
               ORDER BY position
               RETURNING 1
           ), settled AS (
               SELECT d.notification_id, d.channel, COALESCE(x.event, d.status) AS status, d.attempts
               FROM delivery d
               LEFT JOIN ended x ON x.notification_id = d.notification_id AND x.channel = d.channel
               WHERE d.notification_id IN (SELECT notification_id FROM ended)
           ), queued AS (
               INSERT INTO status_event (subscription_id, notification_id, type, payload)
               SELECT s.id, n.id, x.event, (
                   SELECT to_jsonb(p) FROM (
                       SELECT n.id AS notification_id, n.workflow_id, n.status, n.user_id, n.channels, n.priority,
                              n.category, n.idempotency_key, x.channel, x.detail,
                              (SELECT jsonb_agg(jsonb_build_object('channel', a.channel, 'status', a.status,
                                                                   'attempts', a.attempts) ORDER BY a.channel)
                               FROM settled a WHERE a.notification_id = n.id) AS deliveries) p)
               FROM ended x JOIN notification n ON n.id = x.notification_id CROSS JOIN webhook_subscription s
               WHERE x.event IN ('bounced', 'complained') AND s.deleted_at IS NULL AND x.event = ANY (s.events)
               ORDER BY x.position, s.id
               RETURNING 1
           ), failed AS (
               SELECT DISTINCT ON (x.notification_id) x.notification_id, x.detail
               FROM ended x JOIN notification n ON n.id = x.notification_id
               WHERE n.status <> 'undelivered'
                 AND NOT EXISTS (SELECT 1 FROM settled a WHERE a.notification_id = x.notification_id
                                                         AND a.status <> ALL ($8::text[]))
               ORDER BY x.notification_id, x.position DESC
           ), failed_noted AS (
               -- the count runs the endings' entries first, so this one is the latest and the trigger's detail
               INSERT INTO notification_event (notification_id, at, event, detail)
               SELECT notification_id, now(), 'undelivered', detail FROM failed
               WHERE (SELECT count(*) FROM noted) >= 0
               ORDER BY notification_id
               RETURNING notification_id
           ), marked AS (
               UPDATE notification n SET status = 'undelivered', last_error = f.detail, updated_at = now()
               FROM failed f
               WHERE n.id = f.notification_id
               RETURNING n.id
           ), suppressed AS (
               INSERT INTO suppression (channel, address, reason, source)
               SELECT s.channel, s.address, s.reason, $12
               FROM unnest($9::text[], $10::text[], $11::text[]) AS s (channel, address, reason)
               ORDER BY s.channel, s.address
               ON CONFLICT (channel, address) DO NOTHING
           ), woken AS (
               -- the status relays' wake-up, sent at commit: once, however many rows were queued
               SELECT pg_notify('herald_status_event', '') FROM queued LIMIT 1
           )
           SELECT (SELECT count(*) FROM ended) AS deliveries, (SELECT count(*) FROM marked) AS notifications,
                  (SELECT count(*) FROM queued) AS queued
           FROM (SELECT count(*) FROM woken) AS w""",
        [e.notification_id for e in endings], [e.channel for e in endings], [e.event for e in endings],
        [e.ends for e in endings], [e.reason for e in endings], [e.at for e in endings],
        [e.detail for e in endings], FEEDBACK_FINAL,
        [s[0] for s in suppress], [s[1] for s in suppress], [s[2] for s in suppress], source,
    )
    ended = one(Ended, row)
    assert ended is not None, "an aggregate answers one row"
    return ended


# One delivery at a time, for an ending a provider reports at the send rather than in a callback.
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
