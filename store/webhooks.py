"""Status webhooks: subscriptions, the `status_event` outbox the status triggers fill, and its dead letters."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Connection, Executor

_SUBSCRIPTION = "id, url, events, description, created_at"
# A fixed 64-bit number naming the status relay's lock in pg_locks: one relay per database relays at a time.
RELAY_LOCK_ID = 7_240_915_011
NOTIFY_CHANNEL = "herald_status_event"


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: datetime


@dataclass(frozen=True)
class UnrelayedEvent:
    """An outbox row waiting for the relay; `deleted` when its subscription was deleted since it was written."""

    id: int
    subscription_id: str
    notification_id: str
    type: str
    deleted: bool


@dataclass(frozen=True)
class EventToPost:
    """An outbox row with what posting it needs: its subscription's URL, and whether that still exists."""

    id: int
    subscription_id: str
    notification_id: str
    type: str
    occurred_at: datetime
    payload: dict[str, Any]
    outcome: str | None
    url: str
    deleted: bool


@dataclass(frozen=True)
class DeadLetter:
    event_id: int
    notification_id: str
    type: str
    workflow_id: str
    error: str
    attempts: int
    dead_lettered_at: datetime


@dataclass(frozen=True)
class ParkedEvent:
    """A parked event and the workflow that holds it: where a retry or discard signal goes."""

    event_id: int
    workflow_id: str


def new_subscription_id() -> str:
    return f"wh_{secrets.token_hex(8)}"


async def create(conn: Executor, url: str, events: list[str], description: str | None) -> Subscription:
    row = await conn.fetchrow(
        f"""INSERT INTO webhook_subscription (id, url, events, description) VALUES ($1, $2, $3, $4)
            RETURNING {_SUBSCRIPTION}""",
        new_subscription_id(), url, events, description,
    )
    created = one(Subscription, row)
    assert created is not None
    return created


async def get(conn: Executor, subscription_id: str) -> Subscription | None:
    row = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION} FROM webhook_subscription WHERE id = $1 AND deleted_at IS NULL", subscription_id)
    return one(Subscription, row)


async def list_subscriptions(conn: Executor, after: str | None, limit: int) -> list[Subscription]:
    rows = await conn.fetch(
        f"""SELECT {_SUBSCRIPTION} FROM webhook_subscription
            WHERE deleted_at IS NULL AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2""",
        after, limit,
    )
    return many(Subscription, rows)


async def delete(conn: Executor, subscription_id: str) -> bool:
    """Stops new events at once (the triggers skip deleted subscriptions); False if there is none live."""
    done: str = await conn.execute(
        "UPDATE webhook_subscription SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL", subscription_id)
    return done.endswith(" 1")


# -- the relay's side --

async def unrelayed(conn: Executor, limit: int) -> list[UnrelayedEvent]:
    """The oldest outbox rows not yet handed to their workflow, in id order (the order they must be posted in)."""
    rows = await conn.fetch(
        """SELECT e.id, e.subscription_id, e.notification_id, e.type, s.deleted_at IS NOT NULL AS deleted
           FROM status_event e JOIN webhook_subscription s ON s.id = e.subscription_id
           WHERE e.relayed_at IS NULL ORDER BY e.id LIMIT $1""",
        limit,
    )
    return many(UnrelayedEvent, rows)


async def mark_relayed(conn: Executor, event_ids: list[int]) -> None:
    await conn.execute("UPDATE status_event SET relayed_at = now() WHERE id = ANY($1::bigint[])", event_ids)


async def cancel_events(conn: Executor, event_ids: list[int]) -> None:
    """Events of a deleted subscription that were never relayed: they end here, unsent."""
    await conn.execute(
        """UPDATE status_event SET relayed_at = now(), outcome = 'canceled', done_at = now()
           WHERE id = ANY($1::bigint[]) AND outcome IS NULL""",
        event_ids,
    )


async def prune(conn: Executor, older_than_days: float) -> int:
    """Deletes finished events (and their resolved dead letters) older than the retention."""
    done: str = await conn.execute(
        """DELETE FROM status_event WHERE done_at < now() - make_interval(days => $1)
           AND NOT EXISTS (SELECT 1 FROM webhook_dead_letter d WHERE d.event_id = status_event.id
                           AND d.resolved_at IS NULL)""",
        int(older_than_days),
    )
    return int(done.split()[-1])


# -- the workflow's activities --

async def event_to_post(conn: Executor, event_id: int) -> EventToPost | None:
    row = await conn.fetchrow(
        """SELECT e.id, e.subscription_id, e.notification_id, e.type, e.occurred_at, e.payload, e.outcome,
                  s.url, s.deleted_at IS NOT NULL AS deleted
           FROM status_event e JOIN webhook_subscription s ON s.id = e.subscription_id WHERE e.id = $1""",
        event_id,
    )
    return one(EventToPost, row)


async def record_attempt(conn: Executor, event_id: int, error: str | None) -> None:
    await conn.execute("UPDATE status_event SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                       event_id, error)


async def finish(conn: Executor, event_id: int, outcome: str) -> None:
    """The event's end (delivered, discarded, canceled); the first one written stands."""
    await conn.execute(
        "UPDATE status_event SET outcome = $2, done_at = now() WHERE id = $1 AND outcome IS NULL",
        event_id, outcome,
    )


async def add_dead_letter(conn: Executor, event_id: int, workflow_id: str, error: str, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO webhook_dead_letter (subscription_id, event_id, workflow_id, error, attempts, dead_lettered_at)
           SELECT subscription_id, id, $2, $3, attempts, $4 FROM status_event WHERE id = $1
           ON CONFLICT (event_id) WHERE resolved_at IS NULL
           DO UPDATE SET error = EXCLUDED.error, attempts = EXCLUDED.attempts""",
        event_id, workflow_id, error, at,
    )


async def resolve_dead_letter(conn: Connection, event_id: int, resolution: str, at: datetime) -> None:
    async with conn.transaction():
        await conn.execute(
            """UPDATE webhook_dead_letter SET resolved_at = $2, resolution = $3
               WHERE event_id = $1 AND resolved_at IS NULL""",
            event_id, at, resolution,
        )
        if resolution in ("discarded", "expired"):
            await finish(conn, event_id, resolution)


async def open_dead_letters(conn: Executor, subscription_id: str, after: int | None,
                            limit: int) -> list[DeadLetter]:
    rows = await conn.fetch(
        """SELECT d.event_id, e.notification_id, e.type, d.workflow_id, d.error, d.attempts, d.dead_lettered_at
           FROM webhook_dead_letter d JOIN status_event e ON e.id = d.event_id
           WHERE d.subscription_id = $1 AND d.resolved_at IS NULL AND ($2::bigint IS NULL OR d.event_id > $2)
           ORDER BY d.event_id LIMIT $3""",
        subscription_id, after, limit,
    )
    return many(DeadLetter, rows)


async def open_dead_letter(conn: Executor, subscription_id: str, event_id: int) -> ParkedEvent | None:
    row = await conn.fetchrow(
        """SELECT event_id, workflow_id FROM webhook_dead_letter
           WHERE subscription_id = $1 AND event_id = $2 AND resolved_at IS NULL""",
        subscription_id, event_id,
    )
    return one(ParkedEvent, row)


async def open_dead_letter_workflows(conn: Executor, subscription_id: str,
                                     event_ids: list[int] | None) -> list[ParkedEvent]:
    rows = await conn.fetch(
        """SELECT event_id, workflow_id FROM webhook_dead_letter
           WHERE subscription_id = $1 AND resolved_at IS NULL AND ($2::bigint[] IS NULL OR event_id = ANY($2))
           ORDER BY event_id""",
        subscription_id, event_ids,
    )
    return many(ParkedEvent, rows)


async def open_dead_letter_count(conn: Executor) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM webhook_dead_letter WHERE resolved_at IS NULL")
    return count
