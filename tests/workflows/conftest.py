"""Workflow tests: the time-skipping server with a real worker whose activities write to real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.ids import notification_id_for_key
from core.models import NotificationState, Status
from core.secrets import new_webhook_secret
from core.settings import Settings
from core.workflow_ids import notification_workflow_id
from providers.registry import Providers, build_providers
from services import starting
from store import notifications, outbox, templates, users
from worker import herald_worker
from workflows.notification import NotificationWorkflow

Handle = WorkflowHandle[NotificationWorkflow, NotificationState]


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: Client
    pool: asyncpg.Pool
    settings: Settings
    started: list[WorkflowHandle[NotificationWorkflow, NotificationState]] = field(default_factory=list)

    async def start(self, *, channels: list[str], to: dict[str, str] | None = None, with_user: bool = True,
                    body: str = "Hello {{ name }}", data: dict[str, Any] | None = None,
                    send_at: datetime | None = None, priority: str = "transactional", category: str | None = None,
                    user: dict[str, Any] | None = None) -> tuple[str, Handle]:
        """Stores a template, a user and a notification the way the API does, then starts its workflow."""
        suffix = uuid.uuid4().hex[:10]
        async with self.pool.acquire() as conn:
            await templates.create(conn, f"t-{suffix}", "Subject {{ name }}", body, None)
        user_id = None
        if with_user:
            user_id = f"u-{suffix}"
            await users.create(self.pool, user_id, {"name": "Ada", **(user or {})})
        notification_id = notification_id_for_key(f"k-{suffix}")
        row = notifications.NewNotification(
            id=notification_id, idempotency_key=f"k-{suffix}", request_hash="h", workflow_id=notification_workflow_id(
                notification_id), status=Status.SCHEDULED if send_at else Status.ACCEPTED, user_id=user_id,
            recipient=to or {}, channels=channels, priority=priority, category=category,
            template=f"t-{suffix}", template_version=1, data={"name": "Ada"} if data is None else data,
            send_at=send_at)
        async with self.pool.acquire() as conn:
            stored, created = await notifications.insert(conn, row)
        assert created
        # The handle start returns is the one that unlocks time skipping while a test awaits its result.
        handle = await starting.start(self.client, self.settings, stored)
        assert handle is not None
        self.started.append(handle)
        return notification_id, handle

    async def started_from_outbox(self, notification_id: str) -> None:
        """Waits (in real time: skipped time stands still) until the worker has started a notification that the
        accept path stored with its start intent."""
        for _ in range(200):
            if not await outbox.pending(self.pool, notification_id):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{notification_id} never left the outbox")

    async def wait_for(self, handle: WorkflowHandle[NotificationWorkflow, NotificationState], status: str,
                       step: timedelta = timedelta(seconds=1), max_steps: int = 120) -> NotificationState:
        """Advances skipped time in steps until the workflow reports `status`."""
        for _ in range(max_steps):
            state: NotificationState = await handle.query("status", result_type=NotificationState)
            if state.status == status:
                return state
            await self.env.sleep(step)
        raise AssertionError(f"workflow never reached {status}; last: {state.status}")

    async def row(self, notification_id: str) -> dict[str, Any]:
        """The notification with its deliveries and timeline, as plain values (the API's view of it)."""
        full = await notifications.get_full(self.pool, notification_id)
        assert full is not None
        return asdict(full)


@pytest.fixture
async def harness(ts_env: WorkflowEnvironment, pool: asyncpg.Pool,
                  request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    # The contract's defaults: 3 attempts, 1 s initial backoff doubling up to 60 s, 14 days of parking.
    settings = Settings(HERALD_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret(),
                        HERALD_WORKFLOW_SANDBOX=True)  # tests run the sandbox: it catches non-determinism
    async with running_harness(ts_env, pool, settings, request) as harness:
        yield harness


@asynccontextmanager
async def running_harness(ts_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings,
                          request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """A worker on `settings` for one test; the workflows it started are ended (and recorded) after it."""
    async with herald_worker(ts_env.client, pool, settings):
        harness = Harness(ts_env, ts_env.client, pool, settings)
        yield harness
        # A workflow left parked with an activity in flight would hold the shared server's clock still for
        # every later test: time skipping waits for outstanding activities.
        for handle in harness.started:
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")
        # HERALD_RECORD_HISTORIES=<dir> keeps every history for the replay test (tests/workflows/histories).
        record_dir = os.environ.get("HERALD_RECORD_HISTORIES")
        if record_dir:
            for index, handle in enumerate(harness.started):
                history = await handle.fetch_history()
                name = f"{request.node.name}-{index}.json".replace("[", "-").replace("]", "")
                (Path(record_dir) / name).write_text(history.to_json())



def watch_built_providers(monkeypatch: pytest.MonkeyPatch) -> list[Providers]:
    """The providers each worker started after this builds, in order: the chains the tests watch."""
    built: list[Providers] = []

    def build(*args: Any) -> Providers:
        built.append(build_providers(*args))
        return built[-1]

    monkeypatch.setattr("hosting.workers.build_providers", build)
    return built
