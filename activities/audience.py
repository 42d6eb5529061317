"""Audience: read the user's preferences when the notification is due and decide what may go, and when."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NOT_FOUND
from core.audience import decide
from core.models import AudienceDecision, AudienceInput
from core.recipients import Recipient
from store import throttle, users


class AudienceActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name="check_audience")
    async def check_audience(self, inp: AudienceInput) -> AudienceDecision:
        user = await users.get(self._pool, inp.user_id)
        if user is None:
            raise ApplicationError(f"user '{inp.user_id}' does not exist", type=NOT_FOUND, non_retryable=True)
        return await decide_for(self._pool, inp, user)


async def decide_for(pool: asyncpg.Pool, inp: AudienceInput, user: Recipient) -> AudienceDecision:
    """What may go now for this (already loaded) user: preferences, quiet hours, then the throttle."""
    decision = decide(user, inp.channels, inp.category, inp.priority, inp.now, inp.to)
    held = decision.quiet_until is not None and decision.quiet_until > inp.now
    if inp.throttle is None or inp.category is None or decision.skip_reason is not None or held:
        return decision
    t = inp.throttle
    async with pool.acquire() as conn:
        slot = await throttle.take_slot(conn, inp.notification_id, inp.user_id, inp.category, t.limit,
                                        timedelta(seconds=t.period_s), inp.now, reserve=t.mode == "delay")
    if slot.allowed:
        return decision
    why = f"throttled: {t.limit} '{inp.category}' notification(s) per {_period(t.period_s)} already sent"
    if t.mode == "delay" and slot.frees_at is not None:
        decision.quiet_until = slot.frees_at
        decision.hold_reason = f"{why}; held until {slot.frees_at.isoformat()}"
        return decision
    return AudienceDecision(skip_reason=why)


def _period(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
