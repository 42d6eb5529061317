"""Deleting what has aged past HERALD_RETENTION_DAYS, one small batch per transaction.

Each batch is one statement on at most `limit` rows and commits on its own, so row locks are few and brief and
the accept path never waits behind a long delete. Deleting a notification takes its deliveries, attempts,
timeline, dead letters, inbox item, throttle slot and status events with it (ON DELETE CASCADE; migration 023
indexes the referencing columns the cascade looks up). The counts /metrics reads are lifetime totals: these
transactions set `herald.retention`, and the triggers that count deleted rows out skip them (migration 023).

A notification goes only when nothing can still act on it: its status is final (or dead_lettered with every dead
letter resolved, the parked workflow having closed) and has not changed within the retention; no dead letter is
open or recently resolved; its in-app message, if any, has been read; no status event of it is still being
relayed; and no digested notification points at it (those go first, in the same or a later pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import one

if TYPE_CHECKING:
    from store.db import Connection

_RETAINING = "SELECT set_config('herald.retention', 'on', true)"


@dataclass(frozen=True)
class Page:
    """One batch of notifications: how many went, and the last (updated_at, id) looked at, where the next
    batch starts."""

    deleted: int
    updated_at: datetime
    id: str


# The page is the next `limit` candidates in index order after the cursor, so a batch reads `limit` index
# entries even when the oldest rows are ones that must stay (an unread inbox item, say). The status and age are
# checked again on the locked row: a dead letter retried in between is no longer a candidate.
_NOTIFICATIONS = """
WITH page AS (
    SELECT id, updated_at FROM notification
    WHERE status IN ('delivered', 'canceled', 'discarded', 'skipped', 'digested', 'dead_lettered')
      AND updated_at < $1 AND (updated_at, id) > ($2, $3)
    ORDER BY updated_at, id LIMIT $4
), doomed AS (
    SELECT n.id FROM notification n JOIN page p ON p.id = n.id
    WHERE n.status IN ('delivered', 'canceled', 'discarded', 'skipped', 'digested', 'dead_lettered')
      AND n.updated_at < $1
      AND (n.status <> 'dead_lettered'
           OR EXISTS (SELECT 1 FROM dead_letter d WHERE d.notification_id = n.id AND d.resolved_at < $1))
      AND NOT EXISTS (SELECT 1 FROM dead_letter d WHERE d.notification_id = n.id
                      AND (d.resolved_at IS NULL OR d.resolved_at >= $1))
      AND NOT EXISTS (SELECT 1 FROM inbox_item i WHERE i.notification_id = n.id AND i.read_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM status_event e WHERE e.notification_id = n.id AND e.done_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM notification c WHERE c.digest_id = n.id)
    FOR UPDATE OF n SKIP LOCKED
), gone AS (
    DELETE FROM notification n USING doomed d WHERE n.id = d.id RETURNING n.id
)
SELECT (SELECT count(*) FROM gone)::int AS deleted, last.updated_at, last.id
FROM (SELECT updated_at, id FROM page ORDER BY updated_at DESC, id DESC LIMIT 1) last
"""

_READ_INBOX_ITEMS = """
DELETE FROM inbox_item WHERE notification_id IN (
    SELECT notification_id FROM inbox_item WHERE read_at < $1 ORDER BY read_at LIMIT $2 FOR UPDATE SKIP LOCKED)
"""

_DELIVERED_STATUS_EVENTS = """
DELETE FROM status_event WHERE id IN (
    SELECT id FROM status_event WHERE outcome = 'delivered' AND done_at < $1 ORDER BY done_at LIMIT $2
    FOR UPDATE SKIP LOCKED)
"""


async def delete_notifications(conn: Connection, cutoff: datetime, after: tuple[datetime, str],
                               limit: int) -> Page | None:
    """One batch of the notifications that may go, among the next `limit` candidates after `after`; None when
    no candidate is left."""
    async with conn.transaction():
        await conn.execute(_RETAINING)
        return one(Page, await conn.fetchrow(_NOTIFICATIONS, cutoff, after[0], after[1], limit))


async def delete_read_inbox_items(conn: Connection, cutoff: datetime, limit: int) -> int:
    """One batch of inbox items read before `cutoff` (their notifications stay until they may go too)."""
    return await _delete(conn, _READ_INBOX_ITEMS, cutoff, limit)


async def delete_delivered_status_events(conn: Connection, cutoff: datetime, limit: int) -> int:
    """One batch of status events their subscriber received before `cutoff`."""
    return await _delete(conn, _DELIVERED_STATUS_EVENTS, cutoff, limit)


async def _delete(conn: Connection, sql: str, cutoff: datetime, limit: int) -> int:
    async with conn.transaction():
        await conn.execute(_RETAINING)
        done: str = await conn.execute(sql, cutoff, limit)
    return int(done.split()[-1])
