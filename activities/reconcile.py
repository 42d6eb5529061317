"""The reconciler's side effects: find stored notifications whose workflow was never started, and start them.

An API process can die after it stored a notification and before it started the workflow. The client's retry
with the same idempotency key starts it (the accept path does so for a stored, unstarted row); for a client
that never retries, this activity, run every minute by a Temporal Schedule, does. Starting is idempotent
(`core.starting`), so racing a slow API or a retrying client still makes one workflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from core.starting import start_notification
from store import notifications

log = logging.getLogger("herald.reconcile")


@dataclass
class ReconcileInput:
    older_than_s: float = 30.0
    window_s: float = 3600.0
    limit: int = 1000


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
        rows = await notifications.possibly_unstarted(self._pool, inp.older_than_s, inp.window_s, inp.limit)
        started = []
        for row in rows:
            activity.heartbeat(row["id"])
            if await self._exists(row["workflow_id"]):
                continue
            await start_notification(self._client, self._settings, row)
            started.append(row["id"])
            log.warning("started a workflow its API never started", extra={
                "notification_id": row["id"], "workflow_id": row["workflow_id"], "status": row["status"]})
        return ReconcileResult(checked=len(rows), started=started)

    async def _exists(self, workflow_id: str) -> bool:
        try:
            await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True
