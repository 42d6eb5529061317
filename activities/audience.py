"""Audience: read the user's preferences when the notification is due and decide what may go, and when."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NOT_FOUND
from core.audience import decide
from core.models import AudienceDecision, AudienceInput
from store import users


class AudienceActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name="check_audience")
    async def check_audience(self, inp: AudienceInput) -> AudienceDecision:
        user = await users.get(self._pool, inp.user_id)
        if user is None:
            raise ApplicationError(f"user '{inp.user_id}' does not exist", type=NOT_FOUND, non_retryable=True)
        return decide(user, inp.channels, inp.category, inp.priority, inp.now, inp.to)
