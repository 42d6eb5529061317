"""The end of a snooze: the item comes back into its user's feed (a trigger pushes it to the open streams)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from core.models import SnoozeInput
from store import feed


class SnoozeActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name="wake_snoozed")
    async def wake(self, inp: SnoozeInput) -> bool:
        return await feed.wake(self._pool, inp.notification_id, inp.until)
