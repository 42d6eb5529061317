"""The reconciler's side effects: find stored notifications Temporal never heard of, and hand them to it.

Workers start notifications from the outbox (services/outbox.py); the reconciler takes the starts there that
keep failing, tries them again on each pass and logs them. Notifications stored before the outbox existed were
started by the API itself, which could die after it stored a notification and before it started the workflow
(or, for a digest notification, before it added it to its digest): this activity, run every minute by a
Temporal Schedule, starts those, however long ago they were stored. Starting and joining a digest are
idempotent (`services.starting`), so racing a worker or a retrying client still makes one workflow and counts
the notification once in its digest.

Each pass walks every unchecked row after a (created_at, id) cursor, a page at a time, so rows that wait
legitimately (scheduled for next week) never hide the ones behind them; a row seen held by Temporal is marked
and not looked at again. A pass also folds the counts /metrics reads (store/tally.py), so they stay cheap
to read when nobody scrapes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from core.durations import window_seconds
from core.settings import Settings
from core.workflow_ids import digest_workflow_id
from services.outbox import start_failing
from services.starting import digest_of, join_digest, start_notification
from store import notifications, tally
from store.notifications import NotificationRecord

log = logging.getLogger("herald.reconcile")


@dataclass
class ReconcileInput:
    older_than_s: float = 30.0
    # Not used: every unchecked row is looked at, whatever its age. Kept so inputs that carry it still decode.
    window_s: float = 3600.0
    limit: int = 1000  # rows per page


@dataclass
class ReconcileResult:
    checked: int
    started: list[str]


class ReconcileActivities:
    def __init__(self, pool: asyncpg.Pool, client: Client, settings: Settings):
        self._pool = pool
        self._client = client
        self._settings = settings

    @activity.defn(name="start_unstarted")
    async def start_unstarted(self, inp: ReconcileInput) -> ReconcileResult:
        await start_failing(self._pool, self._client, self._settings)
        checked, started = 0, []
        after: tuple[datetime, str] | None = None
        while True:
            rows = await notifications.unchecked_starts(self._pool, inp.older_than_s, after, inp.limit)
            held = []
            for row in rows:
                activity.heartbeat(row.id)
                outcome = await (self._digest(row, inp.older_than_s) if row.digest else self._own(row))
                if outcome == "waiting":
                    continue
                held.append(row.id)
                if outcome == "started":
                    started.append(row.id)
                    log.warning("handed Temporal a notification its API never did", extra={
                        "notification_id": row.id, "workflow_id": row.workflow_id, "status": row.status})
            await notifications.mark_start_checked(self._pool, held)
            checked += len(rows)
            if len(rows) < inp.limit:
                await tally.fold(self._pool)
                return ReconcileResult(checked=checked, started=started)
            after = (rows[-1].created_at, rows[-1].id)

    async def _own(self, row: NotificationRecord) -> str:
        if await self._status(row.workflow_id) is not None:
            return "held"
        await start_notification(self._client, self._settings, row)
        return "started"

    async def _digest(self, row: NotificationRecord, older_than_s: float) -> str:
        """A digest notification has no workflow of its own: its digest's holds it until the window closes.
        Until its own window has passed it may legitimately be on its way there; after that, the digest's
        running workflow must list it as pending, or it is added (harmless if it was there after all)."""
        user_id, digest = digest_of(row)
        age = datetime.now(UTC) - row.created_at
        if age < timedelta(seconds=window_seconds(digest["window"]) + older_than_s):
            return "waiting"
        digest_id = digest_workflow_id(user_id, digest["key"])
        if await self._status(digest_id) == WorkflowExecutionStatus.RUNNING:
            pending = await self._client.get_workflow_handle(digest_id).query("pending")
            if row.id in pending:
                return "held"
        await join_digest(self._client, self._settings, row)
        return "started"

    async def _status(self, workflow_id: str) -> WorkflowExecutionStatus | None:
        try:
            described = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return described.status
