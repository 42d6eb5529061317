"""Record: write the workflow's status changes and dead letters to the read model in PostgreSQL."""

from __future__ import annotations

import logging

import asyncpg
from temporalio import activity

from activities import metrics
from core.models import DeadLetter, DeadLetterResolution, DeliverResult, StatusChange
from store import notifications

log = logging.getLogger("herald.record")

class RecordActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name="record_status")
    async def record_status(self, change: StatusChange) -> None:
        async with self._pool.acquire() as conn:
            await notifications.apply_status_change(conn, change)

    @activity.defn(name="dead_letter")
    async def dead_letter(self, dl: DeadLetter) -> None:
        """The compensating step after a delivery ran out of attempts: park it where operators look."""
        await notifications.add_dead_letter(self._pool, dl)
        log.warning("dead-lettered", extra={"notification_id": dl.notification_id, "channel": dl.channel,
                                            "attempt": dl.attempts, "error": dl.error,
                                            "workflow_id": activity.info().workflow_id})
        metrics.dead_letters(await notifications.open_dead_letter_count(self._pool))

    @activity.defn(name="resolve_dead_letter")
    async def resolve_dead_letter(self, resolution: DeadLetterResolution) -> None:
        await notifications.resolve_dead_letters(self._pool, resolution)
        metrics.dead_letters(await notifications.open_dead_letter_count(self._pool))

    @activity.defn(name="is_read")
    async def is_read(self, notification_id: str) -> bool:
        """Whether the user has read the in-app message: the truth an escalation is decided on."""
        return await notifications.is_read(self._pool, notification_id)

    @activity.defn(name="find_receipts")
    async def find_receipts(self, notification_id: str) -> dict[str, DeliverResult]:
        """The sends that went through, by channel: the truth a cancel is checked against."""
        found = await notifications.receipts(self._pool, notification_id)
        return {channel: DeliverResult(provider=r.provider, provider_message_id=r.provider_message_id,
                                       attempt=r.attempt, delivered_at=r.at) for channel, r in found.items()}
