"""A user's inbox as a feed (`/v1/me/feed`): seen, read, archived and snoozed items, counts, and action clicks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor

_ITEM = """i.notification_id, i.subject, i.body, n.category, i.created_at, i.seen_at, i.read_at, i.archived_at,
           i.snoozed_until, i.actions
           FROM inbox_item i JOIN notification n ON n.id = i.notification_id"""
# In the feed: neither archived nor snoozed into the future.
_VISIBLE = "i.archived_at IS NULL AND (i.snoozed_until IS NULL OR i.snoozed_until <= now())"
# The `status` filter of the feed; keys are the API's values, never SQL from input.
STATUS_FILTERS = {
    None: _VISIBLE,
    "unread": f"{_VISIBLE} AND i.read_at IS NULL",
    "unseen": f"{_VISIBLE} AND i.seen_at IS NULL",
    "archived": "i.archived_at IS NOT NULL",
}
# One change of one item's state, by the API's name for it.
CHANGES = {
    "seen": "seen_at = COALESCE(seen_at, now())",
    "read": "read_at = COALESCE(read_at, now()), seen_at = COALESCE(seen_at, now())",
    "unread": "read_at = NULL",
    "archive": "archived_at = COALESCE(archived_at, now())",
    "unarchive": "archived_at = NULL",
}
# The changes that apply to every visible item at once.
ALL_CHANGES = {"seen": ("seen_at IS NULL", CHANGES["seen"]), "read": ("read_at IS NULL", CHANGES["read"])}


@dataclass(frozen=True)
class FeedItemRecord:
    notification_id: str
    subject: str | None
    body: str
    category: str | None
    created_at: datetime
    seen_at: datetime | None
    read_at: datetime | None
    archived_at: datetime | None
    snoozed_until: datetime | None
    actions: list[dict[str, Any]]


@dataclass(frozen=True)
class FeedCounts:
    """Over the items in the feed (not archived, not snoozed)."""

    unread_count: int
    unseen_count: int


async def list_items(conn: Executor, user_id: str, *, status: str | None, category: str | None,
                     after: tuple[datetime, str] | None, limit: int) -> list[FeedItemRecord]:
    """The user's items of that status (and category), newest first, after the item `after` names."""
    after_at, after_id = after if after else (None, None)
    rows = await conn.fetch(
        f"""SELECT {_ITEM}
            WHERE i.user_id = $1 AND {STATUS_FILTERS[status]} AND ($2::text IS NULL OR n.category = $2)
              AND ($3::timestamptz IS NULL OR (i.created_at, i.notification_id) < ($3, $4))
            ORDER BY i.created_at DESC, i.notification_id DESC LIMIT $5""",
        user_id, category, after_at, after_id, limit,
    )
    return many(FeedItemRecord, rows)


async def counts(conn: Executor, user_id: str) -> FeedCounts:
    row = await conn.fetchrow(
        f"""SELECT count(*) FILTER (WHERE i.read_at IS NULL) AS unread_count,
                   count(*) FILTER (WHERE i.seen_at IS NULL) AS unseen_count
            FROM inbox_item i WHERE i.user_id = $1 AND {_VISIBLE}""",
        user_id,
    )
    found = one(FeedCounts, row)
    assert found is not None
    return found


async def get_item(conn: Executor, user_id: str, notification_id: str) -> FeedItemRecord | None:
    """The item whatever its state (archived and snoozed too)."""
    row = await conn.fetchrow(f"SELECT {_ITEM} WHERE i.user_id = $1 AND i.notification_id = $2",
                              user_id, notification_id)
    return one(FeedItemRecord, row)


async def change(conn: Executor, user_id: str, notification_id: str, what: str) -> bool:
    """Applies one change of `CHANGES` (idempotent); False when the user has no such item."""
    found = await conn.fetchval(
        f"UPDATE inbox_item SET {CHANGES[what]} WHERE user_id = $1 AND notification_id = $2 RETURNING 1",
        user_id, notification_id,
    )
    return found is not None


async def change_all(conn: Executor, user_id: str, what: str) -> list[str]:
    """Marks every item in the feed `seen` or `read`; returns the notification ids it changed."""
    pending, assignment = ALL_CHANGES[what]
    rows = await conn.fetch(
        f"""UPDATE inbox_item i SET {assignment} WHERE i.user_id = $1 AND {_VISIBLE} AND i.{pending}
            RETURNING i.notification_id""",
        user_id,
    )
    return [r["notification_id"] for r in rows]


async def snooze(conn: Executor, user_id: str, notification_id: str, until: datetime) -> bool:
    """Hides the item until `until`; False when the user has no such item."""
    found = await conn.fetchval(
        "UPDATE inbox_item SET snoozed_until = $3 WHERE user_id = $1 AND notification_id = $2 RETURNING 1",
        user_id, notification_id, until,
    )
    return found is not None


async def wake(conn: Executor, notification_id: str, until: datetime) -> bool:
    """Ends the snooze that was set to `until`; a later snooze of the same item (another `until`) stays."""
    found = await conn.fetchval(
        """UPDATE inbox_item SET snoozed_until = NULL WHERE notification_id = $1 AND snoozed_until = $2
           RETURNING 1""",
        notification_id, until,
    )
    return found is not None


async def click(conn: Executor, user_id: str, notification_id: str, index: int) -> str | None:
    """Records a click on the item's action `index` (its status event is written by a trigger, in the same
    transaction); the action's URL, or None when the user has no such item or the item no such action."""
    url: str | None = await conn.fetchval(
        """WITH action AS (
               SELECT notification_id, actions -> $3::int ->> 'url' AS url FROM inbox_item
               WHERE user_id = $1 AND notification_id = $2 AND $3::int >= 0
                 AND $3::int < jsonb_array_length(actions)
           ), clicked AS (
               INSERT INTO inbox_action_click (notification_id, action_index)
               SELECT notification_id, $3::int FROM action
           )
           SELECT url FROM action""",
        user_id, notification_id, index,
    )
    return url
