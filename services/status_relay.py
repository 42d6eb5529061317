"""The status relay: hands each `status_event` outbox row to its StatusWebhookWorkflow, in id order.

Every worker runs one; a PostgreSQL advisory lock (held by a connection of the relay's own) lets one relay per
database work at a time, so rows are signalled in the order they committed. The others wait for the lock and
take over within HERALD_STATUS_RELAY_POLL_S of the active one's connection dropping. The relay wakes on the
triggers' NOTIFY (`herald_status_event`) and also looks every HERALD_STATUS_RELAY_POLL_S, so a lost
notification only delays events.

Each row is signalled-with-start (`event`) on `hook-<subscription>-<notification>`, then marked relayed. A
relay that dies between the two signals again on restart; the workflow takes each event id once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
from temporalio.client import Client

from core.models import RetryConfig, StatusEvent, StatusWebhookInput
from core.settings import Settings
from core.workflow_ids import status_webhook_workflow_id
from services.sessions import keep_running
from store import webhooks
from store.webhooks import UnrelayedEvent

log = logging.getLogger("herald.status_relay")

BATCH = 500
# Workflows signalled at once; one workflow's events always go one after the other.
CONCURRENCY = 16
PRUNE_EVERY_S = 3600.0
# Started by its registered name: services stand below workflows and never import them.
WORKFLOW = "StatusWebhookWorkflow"


def retry_config(settings: Settings) -> RetryConfig:
    """Status webhooks retry like deliveries, with their own attempt count; fixed into each workflow's input."""
    return RetryConfig(max_attempts=settings.status_webhook_max_attempts, initial_s=settings.retry_initial_s,
                       backoff=settings.retry_backoff, max_s=settings.retry_max_s,
                       dlq_retention_s=settings.dlq_retention_days * 86400,
                       delivery_timeout_s=settings.webhook_timeout_s + 5)


class StatusRelay:
    def __init__(self, database_url: str, client: Client, settings: Settings):
        self._url = database_url
        self._client = client
        self._settings = settings
        self._poll_s = settings.status_relay_poll_s
        self._retry = retry_config(settings)
        self.active = False  # holds the lock: the one relay of its database

    async def run(self) -> None:
        """Relays until cancelled. A failure (database or Temporal away) drops the lock; it tries again later."""
        await keep_running(self._session, "status relay", self._poll_s, log)

    async def _session(self) -> None:
        conn: asyncpg.Connection[Any] = await asyncpg.connect(self._url)
        try:
            # Polled, not waited on: a blocking pg_advisory_lock would hide a dead connection from us.
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", webhooks.RELAY_LOCK_ID):  # noqa: ASYNC110
                await asyncio.sleep(self._poll_s)
            wake = asyncio.Event()
            await conn.add_listener(webhooks.NOTIFY_CHANNEL, lambda *_: wake.set())
            self.active = True
            pruned_at = time.monotonic()
            while True:
                wake.clear()
                if await self.relay_once(conn) >= BATCH:
                    continue
                if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                    await webhooks.prune(conn, self._settings.status_event_retention_days)
                    pruned_at = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll_s)
        finally:
            self.active = False
            await conn.close()  # and with it the lock

    async def relay_once(self, conn: asyncpg.Connection[Any]) -> int:
        """Relays one batch of the outbox; returns how many rows it looked at."""
        rows = await webhooks.unrelayed(conn, BATCH)
        groups: dict[str, list[UnrelayedEvent]] = {}
        for row in rows:
            if not row.deleted:
                groups.setdefault(status_webhook_workflow_id(row.subscription_id, row.notification_id),
                                  []).append(row)
        limit = asyncio.Semaphore(CONCURRENCY)
        results = await asyncio.gather(*(self._relay_group(limit, wid, group) for wid, group in groups.items()),
                                       return_exceptions=True)
        relayed = [event_id for r in results if isinstance(r, list) for event_id in r]
        # Events of a subscription deleted before they were relayed end unsent. An idle poll writes nothing.
        canceled = [r.id for r in rows if r.deleted]
        if canceled:
            await webhooks.cancel_events(conn, canceled)
        if relayed:
            await webhooks.mark_relayed(conn, relayed)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return len(rows)

    async def _relay_group(self, limit: asyncio.Semaphore, workflow_id: str,
                           group: list[UnrelayedEvent]) -> list[int]:
        """One workflow's events, one after the other; stops at the first failure so none overtakes another."""
        done: list[int] = []
        async with limit:
            for row in group:
                try:
                    await self._client.start_workflow(
                        WORKFLOW,
                        StatusWebhookInput(subscription_id=row.subscription_id,
                                           notification_id=row.notification_id, retry=self._retry),
                        id=workflow_id, task_queue=self._settings.task_queue, start_signal="event",
                        start_signal_args=[StatusEvent(event_id=row.id, type=row.type)])
                except Exception as exc:  # reported with the rows relayed before it
                    log.warning("status relay could not signal %s: %s", workflow_id, exc,
                                extra={"workflow_id": workflow_id, "error": str(exc)})
                    if done:
                        return done
                    raise
                done.append(row.id)
        return done
