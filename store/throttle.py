"""Throttle slots: at most N sends per user and category in a sliding period, decided when a send is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.db import Connection


@dataclass
class SlotDecision:
    allowed: bool
    sent_in_period: int
    frees_at: datetime | None = None  # when refused: when the oldest slot of the period leaves it


async def take_slot(conn: Connection, notification_id: str, user_id: str, category: str, limit: int,
                    period: timedelta, now: datetime) -> SlotDecision:
    """Takes a slot for the notification if fewer than `limit` were taken in (now - period, now].

    A transaction-scoped advisory lock per (user, category) serialises concurrent decisions, so two sends
    due at once cannot both take the last slot. A notification that already holds a slot (its check ran
    again, after quiet hours or a retry) keeps it.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"throttle:{user_id}:{category}")
        held = await conn.fetchval("SELECT 1 FROM throttle_slot WHERE notification_id = $1", notification_id)
        recent = await conn.fetch(
            """SELECT at FROM throttle_slot WHERE user_id = $1 AND category = $2 AND at > $3 AND at <= $4
               ORDER BY at""",
            user_id, category, now - period, now,
        )
        if held:
            return SlotDecision(allowed=True, sent_in_period=len(recent))
        if len(recent) < limit:
            await conn.execute(
                "INSERT INTO throttle_slot (notification_id, user_id, category, at) VALUES ($1, $2, $3, $4)",
                notification_id, user_id, category, now,
            )
            return SlotDecision(allowed=True, sent_in_period=len(recent) + 1)
        # The (len - limit + 1)-th oldest slot leaving the period makes room for one more.
        return SlotDecision(allowed=False, sent_in_period=len(recent),
                            frees_at=recent[len(recent) - limit]["at"] + period)
