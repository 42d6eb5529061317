"""Throttle slots: at most N sends per user and category in a sliding period, decided when a send is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.db import Connection


@dataclass(frozen=True)
class SlotDecision:
    allowed: bool
    sent_in_period: int
    # When refused: the earliest time a slot is free. With `reserve`, the slot at that time is the caller's.
    frees_at: datetime | None = None


async def take_slot(conn: Connection, notification_id: str, user_id: str, category: str, limit: int,
                    period: timedelta, now: datetime, reserve: bool = False) -> SlotDecision:
    """Takes a slot for the notification if fewer than `limit` are taken in every period it falls in.

    A transaction-scoped advisory lock per (user, category) serialises concurrent decisions, so two sends
    due at once cannot both take the last slot. A notification that already holds a slot (its check ran
    again, after quiet hours or a retry) keeps it.

    `reserve` (delay mode): when no slot is free now, the notification takes the earliest free one in the
    future, after every slot taken or reserved before it, and is told to wait for it. Waiters thus wake in
    the order they came, one per freed slot, each into a slot that is its own: one refusal and one check per
    waiter, however many wait. A reservation counts as a send for everyone deciding after it.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"throttle:{user_id}:{category}")
        held = await conn.fetchval("SELECT at FROM throttle_slot WHERE notification_id = $1", notification_id)
        # Slots still inside the period, and every reservation ahead (at > now).
        slots = [r["at"] for r in await conn.fetch(
            "SELECT at FROM throttle_slot WHERE user_id = $1 AND category = $2 AND at > $3 ORDER BY at",
            user_id, category, now - period,
        )]
        in_period = sum(1 for at in slots if at <= now)
        if held is not None:
            if held <= now:
                return SlotDecision(allowed=True, sent_in_period=in_period)
            return SlotDecision(allowed=False, sent_in_period=in_period, frees_at=held)  # woke early
        # The earliest time at or after the last slot where the slot `limit` places back has left the period.
        at = now
        if len(slots) >= limit:
            at = max(at, slots[len(slots) - limit] + period)
        if slots:
            at = max(at, slots[-1])
        if at <= now:
            await _insert(conn, notification_id, user_id, category, now)
            return SlotDecision(allowed=True, sent_in_period=in_period + 1)
        if reserve:
            await _insert(conn, notification_id, user_id, category, at)
        return SlotDecision(allowed=False, sent_in_period=in_period, frees_at=at)


async def _insert(conn: Connection, notification_id: str, user_id: str, category: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO throttle_slot (notification_id, user_id, category, at) VALUES ($1, $2, $3, $4)",
        notification_id, user_id, category, at,
    )
