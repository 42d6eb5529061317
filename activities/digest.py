"""Closing a digest window: absorb its notifications and start the one notification that delivers them."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.client import Client

from core.ids import notification_id_for_key
from core.models import DigestBatch, DigestResult, Status
from core.settings import Settings
from core.workflow_ids import notification_workflow_id
from services.starting import start_notification
from store import digests, notifications


class DigestActivities:
    def __init__(self, pool: asyncpg.Pool, client: Client, settings: Settings):
        self._pool = pool
        self._client = client
        self._settings = settings

    @activity.defn(name="close_digest")
    async def close_digest(self, batch: DigestBatch) -> DigestResult:
        """Idempotent: the digest's id derives from the window's first event, and a repeat finds its own work.

        The digest is rendered from the first absorbed notification's template and data, plus `events` (each
        absorbed notification's data, in arrival order) and `count`.
        """
        key = f"digest:{batch.user_id}:{batch.key}:{batch.events[0].notification_id}"
        digest_id = notification_id_for_key(key)
        async with self._pool.acquire() as conn, conn.transaction():
            kept = await digests.absorbable(conn, [e.notification_id for e in batch.events], digest_id)
            events = [e for e in batch.events if e.notification_id in kept]
            if not events:
                return DigestResult(digest_id=None)
            lead = events[0]
            row, _ = await notifications.insert(conn, notifications.NewNotification(
                id=digest_id, idempotency_key=key, request_hash="digest",
                workflow_id=notification_workflow_id(digest_id),
                status=Status.ACCEPTED, user_id=batch.user_id, recipient=lead.to, channels=lead.channels,
                priority=lead.priority, category=lead.category, template=lead.template,
                template_version=lead.template_version,
                data={**lead.data, "events": [e.data for e in events], "count": len(events)}, send_at=None))
            await digests.mark_digested(conn, [e.notification_id for e in events], digest_id, row.created_at)
        # The same idempotent start the API uses; a crash before it leaves a row the reconciler starts.
        await start_notification(self._client, self._settings, row)
        return DigestResult(digest_id=digest_id, absorbed=[e.notification_id for e in events])
