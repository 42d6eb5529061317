"""StatusWebhookWorkflow on the time-skipping server: backoff and Retry-After, dead letters with retry, discard
and expiry, order behind a parked event, and events taken once however often they are signalled.

Each test runs on a database of its own, so the worker's status relay (which needs one relay per database) is
the one of this test's worker, signalling this server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.ids import notification_id_for_key
from core.models import StatusChange, StatusEvent, StatusWebhookInput
from core.secrets import new_webhook_secret
from core.settings import Settings
from core.temporal import metrics_runtime
from core.workflow_ids import notification_workflow_id, status_webhook_workflow_id
from services.status_relay import StatusRelay, retry_config
from store import notifications, webhooks
from store.db import create_pool
from store.migrate import migrate_url
from tests.api.test_worker_metrics import sample
from tests.conftest import free_port, new_database
from tests.receivers import Call, HttpReceiver, Reply
from worker import herald_worker
from workflows.status_webhook import StatusWebhookWorkflow


@dataclass
class Hooks:
    env: WorkflowEnvironment
    client: Client
    pool: asyncpg.Pool
    settings: Settings
    receiver: HttpReceiver
    handles: list[WorkflowHandle[Any, Any]]

    async def subscribe(self, events: list[str]) -> tuple[str, str]:
        path = f"/hook/{uuid.uuid4().hex[:10]}"
        row = await webhooks.create(self.pool, f"{self.receiver.base}{path}", events, None)
        return row.id, path

    async def notification(self) -> str:
        """Stored as the API stores one: the insert itself writes the `accepted` event."""
        key = f"k-{uuid.uuid4().hex[:10]}"
        nid = notification_id_for_key(key)
        async with self.pool.acquire() as conn:
            await notifications.insert(conn, notifications.NewNotification(
                id=nid, idempotency_key=key, request_hash="h",
                workflow_id=notification_workflow_id(nid), status="accepted",
                user_id=None, recipient={"sim": "ok"}, channels=["sim"], priority="transactional", category=None,
                template="t", template_version=1, data={"name": "Ada"}, send_at=None))
        return nid

    async def change(self, nid: str, status: str) -> None:
        async with self.pool.acquire() as conn:
            await notifications.apply_status_change(conn, StatusChange(
                notification_id=nid, status=status, event=status, at=datetime.now(UTC), detail=f"now {status}"))

    async def workflow(self, sub: str, nid: str) -> WorkflowHandle[Any, Any]:
        """The relay's workflow for (sub, nid), once it has started it (real time: the relay is a task)."""
        handle = self.client.get_workflow_handle(status_webhook_workflow_id(sub, nid))
        for _ in range(200):
            try:
                await handle.describe()
                self.handles.append(handle)
                return handle
            except RPCError:
                await self.env.sleep(timedelta(milliseconds=50))
        raise AssertionError("the relay never started the workflow")

    def calls(self, path: str) -> list[Call]:
        return [c for c in self.receiver.calls if c.path == path]

    def accepted(self, path: str) -> list[str]:
        return [c.body["type"] for c in self.calls(path) if c.status == 200]

    async def until(self, check: Callable[[], Awaitable[Any]], step: timedelta = timedelta(seconds=5),
                    max_steps: int = 200) -> Any:
        """Skips time in steps until `check` is truthy."""
        for _ in range(max_steps):
            found = await check()
            if found:
                return found
            await self.env.sleep(step)
        raise AssertionError("condition never met")

    async def result(self, handle: WorkflowHandle[Any, Any], step: timedelta = timedelta(seconds=5)) -> Any:
        """Skips time until the workflow ends, then its result. (A handle the relay's start made is not one
        whose result() unlocks time skipping by itself.)"""
        async def ended() -> bool:
            return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        await self.until(ended, step=step)
        return await handle.result()

    async def dead_letters(self, sub: str) -> list[webhooks.DeadLetter]:
        return await webhooks.open_dead_letters(self.pool, sub, None, 50)


@pytest.fixture
async def hooks(ts_env: WorkflowEnvironment, pg_server: Any, request: pytest.FixtureRequest) -> AsyncIterator[Hooks]:
    url = await new_database(pg_server, f"hooks_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=1, max_size=5)
    secret = new_webhook_secret()
    receiver = HttpReceiver(free_port(), secret)
    await receiver.start()
    # The contract's retry defaults (1 s doubling up to 60 s), 8 attempts per event, 14 days of parking.
    settings = Settings(HERALD_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}", DATABASE_URL=url,
                        HERALD_WEBHOOK_SECRET=secret, HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1",
                        HERALD_WORKFLOW_SANDBOX=True, HERALD_STATUS_RELAY_POLL_S=0.2,
                        HERALD_WORKER_METRICS_ADDRESS=f"127.0.0.1:{free_port()}")
    # The worker's own connection to the server, with the metrics runtime a worker process has.
    worker_client = await Client.connect(ts_env.client.service_client.config.target_host,
                                         runtime=metrics_runtime(settings))
    try:
        async with herald_worker(worker_client, pool, settings, relay_database_url=url):
            hooks = Hooks(ts_env, ts_env.client, pool, settings, receiver, [])
            yield hooks
            for handle in hooks.handles:  # a parked one would hold the shared server's clock still
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")
            # HERALD_RECORD_HISTORIES=<dir> keeps every history for the replay test, as the harness does.
            record_dir = os.environ.get("HERALD_RECORD_HISTORIES")
            if record_dir:
                for index, handle in enumerate(hooks.handles):
                    history = await handle.fetch_history()
                    name = f"status-webhook-{request.node.name}-{index}.json"
                    (Path(record_dir) / name).write_text(history.to_json())
    finally:
        await receiver.stop()
        await pool.close()


async def test_failures_are_retried_with_backoff_and_retry_after(hooks: Hooks) -> None:
    sub, path = await hooks.subscribe(["accepted"])
    hooks.receiver.script[path] = [Reply(500), Reply(502), Reply(429, headers={"Retry-After": "300"}), Reply(200)]
    started = await hooks.env.get_current_time()
    nid = await hooks.notification()
    handle = await hooks.workflow(sub, nid)
    assert await hooks.result(handle) == 1
    elapsed = (await hooks.env.get_current_time() - started).total_seconds()
    # 1 s and 2 s of exponential backoff, then the 300 s the receiver asked for.
    assert 303 <= elapsed < 400, elapsed
    calls = hooks.calls(path)
    assert [c.status for c in calls] == [500, 502, 429, 200]
    assert len({c.headers["webhook-id"] for c in calls}) == 1 and all(c.verified for c in calls)
    row = await hooks.pool.fetchrow("SELECT outcome, attempts FROM status_event WHERE notification_id = $1", nid)
    assert row is not None and dict(row) == {"outcome": "delivered", "attempts": 4}
    async with httpx.AsyncClient() as scrape:
        text = (await scrape.get(f"http://{hooks.settings.worker_metrics_address}/metrics")).text
    assert sample(text, "herald_status_webhooks_total", outcome="failed") == 3
    assert sample(text, "herald_status_webhooks_total", outcome="delivered") == 1
    assert sample(text, "herald_status_webhook_latency_count", outcome="delivered") == 1


async def test_a_dead_letter_holds_later_events_until_retried(hooks: Hooks) -> None:
    sub, path = await hooks.subscribe(["accepted", "delivered"])
    max_attempts = hooks.settings.status_webhook_max_attempts
    hooks.receiver.script[path] = [Reply(503)] * max_attempts
    nid = await hooks.notification()
    handle = await hooks.workflow(sub, nid)
    letters = await hooks.until(lambda: hooks.dead_letters(sub), step=timedelta(seconds=30))
    assert letters[0].type == "accepted" and letters[0].attempts == max_attempts
    assert "HTTP 503" in letters[0].error
    await hooks.change(nid, "delivered")

    async def queued() -> bool:
        return len(await handle.query(StatusWebhookWorkflow.pending)) == 2
    await hooks.until(queued, step=timedelta(milliseconds=200))
    assert hooks.accepted(path) == []  # `delivered` waits behind the parked `accepted`
    await handle.signal(StatusWebhookWorkflow.retry, letters[0].event_id)
    assert await hooks.result(handle) == 2
    assert hooks.accepted(path) == ["notification.accepted", "notification.delivered"]
    assert await hooks.dead_letters(sub) == []
    resolution = await hooks.pool.fetchval("SELECT resolution FROM webhook_dead_letter WHERE event_id = $1",
                                           letters[0].event_id)
    assert resolution == "retried"


async def test_a_permanent_failure_parks_at_once_and_expires_after_the_retention(hooks: Hooks) -> None:
    sub, path = await hooks.subscribe(["accepted", "delivered"])
    hooks.receiver.script[path] = [Reply(404)]
    nid = await hooks.notification()
    handle = await hooks.workflow(sub, nid)
    letters = await hooks.until(lambda: hooks.dead_letters(sub), step=timedelta(milliseconds=200))
    assert letters[0].attempts == 1  # a 4xx is not retried
    await hooks.change(nid, "delivered")

    async def queued() -> bool:
        return len(await handle.query(StatusWebhookWorkflow.pending)) == 2
    await hooks.until(queued, step=timedelta(milliseconds=200))
    assert await hooks.result(handle, step=timedelta(hours=12)) == 2  # the 14 days of parking
    assert (await hooks.env.get_current_time() - letters[0].dead_lettered_at) >= timedelta(days=14)
    assert hooks.accepted(path) == ["notification.delivered"]
    outcome = await hooks.pool.fetchval("SELECT outcome FROM status_event WHERE id = $1", letters[0].event_id)
    assert outcome == "expired"


async def test_a_discard_sent_the_moment_the_dead_letter_appears_is_taken(hooks: Hooks) -> None:
    """The API lists a dead letter once its row is written; a discard sent then, before the workflow has heard
    that the row's activity completed, must not be ignored as a stray signal."""
    sub, path = await hooks.subscribe(["accepted"])
    hooks.receiver.script[path] = [Reply(410)]
    async with hooks.pool.acquire() as blocker, blocker.transaction():
        # Holds the dead-letter write (the activity waits on the lock) so the signal lands in that window.
        await blocker.execute("LOCK TABLE webhook_dead_letter IN EXCLUSIVE MODE")
        nid = await hooks.notification()
        handle = await hooks.workflow(sub, nid)

        async def recording() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(a.activity_type.name == "dead_letter_status_event" for a in pending)
        await hooks.until(recording, step=timedelta(milliseconds=200))
        event_id = await hooks.pool.fetchval("SELECT id FROM status_event WHERE notification_id = $1", nid)
        await handle.signal(StatusWebhookWorkflow.discard, event_id)
    assert await hooks.result(handle, step=timedelta(seconds=1)) == 1
    resolution = await hooks.pool.fetchval("SELECT resolution FROM webhook_dead_letter WHERE event_id = $1", event_id)
    assert resolution == "discarded"
    assert hooks.accepted(path) == []


async def test_each_event_is_taken_once_however_often_it_is_signalled(hooks: Hooks) -> None:
    sub, path = await hooks.subscribe(["accepted", "delivered"])
    hooks.receiver.script[path] = [Reply(410)]
    nid = await hooks.notification()
    handle = await hooks.workflow(sub, nid)
    letters = await hooks.until(lambda: hooks.dead_letters(sub), step=timedelta(milliseconds=200))
    accepted = letters[0].event_id
    await hooks.change(nid, "delivered")
    delivered: int = await hooks.until(lambda: hooks.pool.fetchval(
        "SELECT id FROM status_event WHERE notification_id = $1 AND type = 'delivered' AND relayed_at IS NOT NULL",
        nid), step=timedelta(milliseconds=200))
    # What a relay that died before marking its rows sends on restart: everything again, in any order.
    for event_id, kind in [(delivered, "delivered"), (accepted, "accepted"), (delivered, "delivered")]:
        await handle.signal(StatusWebhookWorkflow.event, StatusEvent(event_id=event_id, type=kind))
    assert await handle.query(StatusWebhookWorkflow.pending) == [accepted, delivered]
    await handle.signal(StatusWebhookWorkflow.retry, accepted)
    assert await hooks.result(handle) == 2
    assert hooks.accepted(path) == ["notification.accepted", "notification.delivered"]
    # A new run given an event an earlier run delivered does not post it again: the outbox row remembers.
    again = await hooks.client.start_workflow(
        StatusWebhookWorkflow.run, StatusWebhookInput(subscription_id=sub, notification_id=nid,
                                                      retry=retry_config(hooks.settings)),
        id=status_webhook_workflow_id(sub, nid), task_queue=hooks.settings.task_queue, start_signal="event",
        start_signal_args=[StatusEvent(event_id=delivered, type="delivered")])
    assert await again.result() == 1
    assert hooks.accepted(path) == ["notification.accepted", "notification.delivered"]
    assert len(hooks.calls(path)) == 3  # the 410, then one post of each


async def test_one_relay_per_database_and_another_takes_over_when_it_dies(hooks: Hooks) -> None:
    url = hooks.settings.database_url
    assert url is not None
    # Advisory locks are per database, and other tests' workers hold the same lock in their own databases.
    holders = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = 1 AND objid = $1 AND granted"
               " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    lock_objid = webhooks.RELAY_LOCK_ID & 0xFFFFFFFF
    first: int = await hooks.until(lambda: hooks.pool.fetchval(holders, lock_objid),
                                   step=timedelta(milliseconds=100))
    standby = StatusRelay(url, hooks.client, hooks.settings)
    task = asyncio.create_task(standby.run())
    try:
        await asyncio.sleep(1.0)
        assert not standby.active  # the worker's relay holds the lock
        # The active relay's connection dies (its worker was killed): the lock goes with it.
        await hooks.pool.execute("SELECT pg_terminate_backend($1)", first)

        async def taken_over() -> bool:
            pid = await hooks.pool.fetchval(holders, lock_objid)
            return pid is not None and pid != first
        await hooks.until(taken_over, step=timedelta(milliseconds=100))
        assert len(await hooks.pool.fetch(holders, lock_objid)) == 1
        sub, path = await hooks.subscribe(["accepted"])
        nid = await hooks.notification()
        assert await hooks.result(await hooks.workflow(sub, nid)) == 1
        assert hooks.accepted(path) == ["notification.accepted"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_finished_events_are_pruned_after_the_retention(hooks: Hooks) -> None:
    sub, path = await hooks.subscribe(["accepted"])
    nid = await hooks.notification()
    assert await hooks.result(await hooks.workflow(sub, nid)) == 1
    assert await webhooks.prune(hooks.pool, 1) == 0  # finished just now: kept
    await hooks.pool.execute("UPDATE status_event SET done_at = now() - interval '2 days' WHERE notification_id = $1",
                             nid)
    assert await webhooks.prune(hooks.pool, 1) == 1
    assert hooks.accepted(path) == ["notification.accepted"]
