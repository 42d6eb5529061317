"""Topic subscriptions, kept on each user's `topics` array."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.db import Executor


async def missing_users(conn: Executor, user_ids: list[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT u FROM unnest($1::text[]) AS u WHERE NOT EXISTS (SELECT 1 FROM app_user WHERE id = u)", user_ids
    )
    return [r["u"] for r in rows]


async def subscribe(conn: Executor, topic: str, user_ids: list[str]) -> int:
    """Adds the topic to each user that lacks it; returns how many were added."""
    result = await conn.execute(
        """UPDATE app_user SET topics = array_append(topics, $1), updated_at = now()
           WHERE id = ANY($2) AND NOT ($1 = ANY(topics))""",
        topic, user_ids,
    )
    return int(result.split()[-1])


async def unsubscribe(conn: Executor, topic: str, user_ids: list[str]) -> int:
    result = await conn.execute(
        """UPDATE app_user SET topics = array_remove(topics, $1), updated_at = now()
           WHERE id = ANY($2) AND $1 = ANY(topics)""",
        topic, user_ids,
    )
    return int(result.split()[-1])


async def subscribers(conn: Executor, topic: str, after: str | None, limit: int) -> list[str]:
    rows = await conn.fetch(
        """SELECT id FROM app_user WHERE topics @> ARRAY[$1]::text[] AND ($2::text IS NULL OR id > $2)
           ORDER BY id LIMIT $3""",
        topic, after, limit,
    )
    return [r["id"] for r in rows]
