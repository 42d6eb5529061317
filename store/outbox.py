"""The outbox of workflow starts (`022_outbox.sql`, `026_broadcast_outbox.sql`): the rows accept writes with each
notification and each broadcast, claimed by workers in priority order, and removed once Temporal holds the
workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store import broadcasts
from store.broadcasts import BroadcastRecord
from store.notifications import NOTIFICATION_COLUMNS, NotificationRecord
from store.records import many

if TYPE_CHECKING:
    from store.db import Executor

# The channel a new row announces itself on (the insert trigger's pg_notify): workers LISTEN to it.
NOTIFY_CHANNEL = "herald_start"
# What the timeline records once the workflow is started (or the notification has joined its digest).
STARTED_EVENT = "started"


@dataclass(frozen=True)
class ClaimedStart:
    """An outbox row a worker holds until `lease_s` passes: the notification or broadcast whose workflow it
    starts."""

    start_id: int
    attempts: int
    traceparent: str | None
    subject: NotificationRecord | BroadcastRecord


@dataclass(frozen=True)
class FailingStart:
    notification_id: str | None  # None: a broadcast's start
    broadcast_id: str | None
    attempts: int
    last_error: str | None


async def claim(conn: Executor, task_queue: str, limit: int, lease_s: float, *, min_attempts: int = 0,
                max_attempts: int = 2**31 - 1) -> list[ClaimedStart]:
    """Takes up to `limit` rows of `task_queue` that no one holds, `otp` first, then in the order accepted.

    One statement: rows another worker is claiming are skipped, not waited for, and each taken row is leased
    (`available_at` moved past the lease), so a worker that dies before starting leaves it to the next claim.
    The rows are picked once, before the update (MATERIALIZED): a pick the plan ran again per updated row would
    skip the rows updated so far as locked and take the next ones, more than `limit`.
    Only rows whose start has failed at least `min_attempts` and fewer than `max_attempts` times: the workers
    take the fresh ones, the reconciler those that keep failing."""
    rows = await conn.fetch(
        f"""WITH picked AS MATERIALIZED (
                SELECT id FROM workflow_start
                WHERE task_queue = $1 AND available_at <= clock_timestamp() AND attempts >= $4 AND attempts < $5
                ORDER BY rank, id LIMIT $2 FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE workflow_start s SET available_at = now() + make_interval(secs => $3)
                FROM picked WHERE s.id = picked.id
                RETURNING s.id AS start_id, s.attempts AS start_attempts, s.rank AS start_rank,
                          s.notification_id AS start_notification_id, s.broadcast_id AS start_broadcast_id,
                          s.traceparent AS start_traceparent
            )
            SELECT claimed.start_id, claimed.start_attempts, claimed.start_traceparent, claimed.start_broadcast_id,
                   {NOTIFICATION_COLUMNS}
            FROM claimed LEFT JOIN notification ON notification.id = claimed.start_notification_id
            ORDER BY claimed.start_rank, claimed.start_id""",
        task_queue, limit, lease_s, min_attempts, max_attempts,
    )
    # Broadcasts are few: their rows are read in a second statement, only when one was claimed.
    broadcast_ids = [r["start_broadcast_id"] for r in rows if r["start_broadcast_id"] is not None]
    started_broadcasts = {b.id: b for b in await broadcasts.get_many(conn, broadcast_ids)} if broadcast_ids else {}
    claimed = []
    for row in rows:
        fields = dict(row.items())
        start_id, attempts, traceparent, broadcast_id = (
            fields.pop("start_id"), fields.pop("start_attempts"), fields.pop("start_traceparent"),
            fields.pop("start_broadcast_id"))
        subject = started_broadcasts[broadcast_id] if broadcast_id is not None else NotificationRecord(**fields)
        claimed.append(ClaimedStart(start_id=start_id, attempts=attempts, traceparent=traceparent,
                                    subject=subject))
    return claimed


async def finish(conn: Executor, started: list[tuple[int, datetime]], starter: str) -> None:
    """Temporal holds these rows' workflows: the rows leave the outbox, each notification's timeline records when
    its start was sent and by whom (`starter`, the client identity: the worker that ran the first task), and the
    reconciler is told not to look at them (`start_checked_at`)."""
    await conn.execute(
        """WITH started AS (
                SELECT * FROM unnest($1::bigint[], $2::timestamptz[]) AS s(id, at)
            ), done AS (
                DELETE FROM workflow_start w USING started WHERE w.id = started.id
                RETURNING w.notification_id, started.at
            ), checked AS (
                UPDATE notification SET start_checked_at = now() WHERE id IN (SELECT notification_id FROM done)
            )
            INSERT INTO notification_event (notification_id, at, event, detail)
            SELECT notification_id, at, $3, 'workflow started by ' || $4 FROM done
            WHERE notification_id IS NOT NULL""",
        [s for s, _ in started], [at for _, at in started], STARTED_EVENT, starter,
    )


async def drop(conn: Executor, start_ids: list[int]) -> None:
    """Rows whose notification ended while it waited (canceled in its digest's window), or whose broadcast did:
    nothing to start."""
    await conn.execute("DELETE FROM workflow_start WHERE id = ANY($1::bigint[])", start_ids)


async def release(conn: Executor, start_ids: list[int]) -> None:
    """Temporal did not answer: the rows go back as they were, claimable again at once and in the same order."""
    await conn.execute("UPDATE workflow_start SET available_at = now() WHERE id = ANY($1::bigint[])", start_ids)


async def fail(conn: Executor, start_id: int, error: str, retry_in_s: float) -> None:
    """Temporal refused this start for a reason of its own: count it and try again after `retry_in_s`."""
    await conn.execute(
        """UPDATE workflow_start SET attempts = attempts + 1, last_error = $2,
                  available_at = now() + make_interval(secs => $3)
           WHERE id = $1""",
        start_id, error[:2000], retry_in_s)


async def failing(conn: Executor, min_attempts: int) -> list[FailingStart]:
    """The rows whose start has failed at least `min_attempts` times, for operators and the reconciler's log."""
    rows = await conn.fetch(
        """SELECT notification_id, broadcast_id, attempts, last_error FROM workflow_start
           WHERE attempts >= $1 ORDER BY rank, id""", min_attempts)
    return many(FailingStart, rows)


async def waiting(conn: Executor, task_queue: str) -> int:
    """How many starts wait in the outbox of `task_queue`."""
    count: int = await conn.fetchval("SELECT count(*) FROM workflow_start WHERE task_queue = $1", task_queue)
    return count


async def pending(conn: Executor, notification_id: str) -> bool:
    """True while the notification's start waits in the outbox: Temporal has no workflow of it yet."""
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM workflow_start WHERE notification_id = $1)",
                                      notification_id)
    return found


async def broadcast_pending(conn: Executor, broadcast_id: str) -> bool:
    """True while the broadcast's start waits in the outbox (or is being started by a worker right now)."""
    found: bool = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM workflow_start WHERE broadcast_id = $1)",
                                      broadcast_id)
    return found


async def cancel_unstarted_broadcast(conn: Executor, broadcast_id: str) -> bool:
    """Cancels a broadcast whose start waits and no worker holds: its intent leaves the outbox and the broadcast
    is `canceled`, in one statement. False when there is no such intent: the workflow started, or a worker is
    starting it now (its lease is taken; the claim and this statement serialise on the row)."""
    canceled = await conn.fetchval(
        """WITH dropped AS (
                DELETE FROM workflow_start WHERE broadcast_id = $1 AND available_at <= clock_timestamp()
                RETURNING broadcast_id
            )
            UPDATE broadcast SET status = 'canceled', updated_at = now()
            WHERE id IN (SELECT broadcast_id FROM dropped) RETURNING id""", broadcast_id)
    return canceled is not None
