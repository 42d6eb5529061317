"""The in-app inbox of each user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor

_ITEM = "notification_id, subject, body, created_at, read_at, read_at IS NOT NULL AS read"


@dataclass(frozen=True)
class InboxItemRecord:
    notification_id: str
    subject: str | None
    body: str
    created_at: datetime
    read_at: datetime | None
    read: bool


async def add(conn: Executor, *, notification_id: str, user_id: str, subject: str | None, body: str) -> bool:
    """Adds the item once per notification; False when it was already there (a retried send)."""
    inserted = await conn.fetchval(
        """INSERT INTO inbox_item (notification_id, user_id, subject, body) VALUES ($1, $2, $3, $4)
           ON CONFLICT (notification_id) DO NOTHING RETURNING 1""",
        notification_id, user_id, subject, body,
    )
    return inserted is not None


async def list_items(conn: Executor, user_id: str, *, unread_only: bool, after: tuple[datetime, str] | None,
                     limit: int) -> list[InboxItemRecord]:
    after_at, after_id = after if after else (None, None)
    rows = await conn.fetch(
        f"""SELECT {_ITEM} FROM inbox_item
           WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL)
             AND ($3::timestamptz IS NULL OR (created_at, notification_id) < ($3, $4))
           ORDER BY created_at DESC, notification_id DESC LIMIT $5""",
        user_id, unread_only, after_at, after_id, limit,
    )
    return many(InboxItemRecord, rows)


async def unread_count(conn: Executor, user_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM inbox_item WHERE user_id = $1 AND read_at IS NULL", user_id
    )
    return count


async def mark_read(conn: Executor, user_id: str, notification_id: str) -> bool:
    """Marks one item read (idempotent); False when the user has no such item."""
    found = await conn.fetchval(
        """UPDATE inbox_item SET read_at = COALESCE(read_at, now())
           WHERE user_id = $1 AND notification_id = $2 RETURNING 1""",
        user_id, notification_id,
    )
    return found is not None


async def mark_all_read(conn: Executor, user_id: str) -> list[str]:
    """Marks every unread item read; returns their notification ids."""
    rows = await conn.fetch(
        "UPDATE inbox_item SET read_at = now() WHERE user_id = $1 AND read_at IS NULL RETURNING notification_id",
        user_id,
    )
    return [r["notification_id"] for r in rows]


async def get_item(conn: Executor, user_id: str, notification_id: str) -> InboxItemRecord | None:
    row = await conn.fetchrow(
        f"SELECT {_ITEM} FROM inbox_item WHERE user_id = $1 AND notification_id = $2", user_id, notification_id
    )
    return one(InboxItemRecord, row)


async def items_after(conn: Executor, user_id: str, notification_id: str, limit: int) -> list[InboxItemRecord]:
    """The items that arrived after the given one, oldest first: what a reconnecting stream missed."""
    rows = await conn.fetch(
        f"""SELECT {_ITEM} FROM inbox_item
            WHERE user_id = $1 AND (created_at, notification_id) >
                  (SELECT created_at, notification_id FROM inbox_item WHERE user_id = $1 AND notification_id = $2)
            ORDER BY created_at, notification_id LIMIT $3""",
        user_id, notification_id, limit,
    )
    return many(InboxItemRecord, rows)
