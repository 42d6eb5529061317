"""Topics: named groups of users, for broadcasts, kept on each user's `topics`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import invalid
from store import topics

if TYPE_CHECKING:
    from store.db import Executor


async def subscribe(db: Executor, topic: str, user_ids: list[str]) -> int:
    """Adds the topic to each user that lacks it; returns how many were added. 422 naming unknown users."""
    missing = await topics.missing_users(db, user_ids)
    if missing:
        raise invalid("user_ids", f"unknown user(s): {', '.join(missing[:20])}", code="unknown_user",
                      missing=missing)
    return await topics.subscribe(db, topic, user_ids)


async def unsubscribe(db: Executor, topic: str, user_ids: list[str]) -> int:
    """Removes the topic from each user that has it (unknown users are no error); returns how many lost it."""
    return await topics.unsubscribe(db, topic, user_ids)


async def subscribers(db: Executor, topic: str, after: str | None, limit: int) -> list[str]:
    """The ids of the topic's users, in order, after `after`."""
    return await topics.subscribers(db, topic, after, limit)
