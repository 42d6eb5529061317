"""A snoozed inbox item comes back at its time through SnoozeWorkflow's durable timer, on the time-skipping
server, even when no worker ran while it slept."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.secrets import new_webhook_secret
from core.settings import Settings
from core.workflow_ids import snooze_workflow_id
from services import feed
from store import feed as feed_store
from tests.workflows.conftest import Harness
from worker import herald_worker


def _handle(client: Client, notification_id: str, until: datetime) -> WorkflowHandle[object, bool]:
    return client.get_workflow_handle(snooze_workflow_id(notification_id, int(until.timestamp() * 1000)),
                                      result_type=bool)


async def _delivered_item(harness: Harness) -> tuple[str, str]:
    notification_id, handle = await harness.start(channels=["in_app"])
    await handle.result()
    user_id = (await harness.row(notification_id))["user_id"]
    return user_id, notification_id


async def _visible(pool: asyncpg.Pool, user_id: str) -> list[str]:
    page = await feed_store.list_items(pool, user_id, status=None, category=None, after=None, limit=10)
    return [i.notification_id for i in page]


def _record(name: str, history_json: str) -> None:
    """HERALD_RECORD_HISTORIES=<dir> keeps the history for the replay test (tests/workflows/histories)."""
    record_dir = os.environ.get("HERALD_RECORD_HISTORIES")
    if record_dir:
        (Path(record_dir) / f"{name}.json").write_text(history_json)


async def test_a_week_long_snooze_wakes_the_item_though_no_worker_ran_meanwhile(
        harness: Harness, ts_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    user_id, nid = await _delivered_item(harness)
    # Snoozed on a task queue no worker polls yet: the API process starts the timer, nothing runs it.
    idle = Settings(HERALD_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret())
    # Times on the test server's clock, which earlier tests have moved ahead.
    until = await ts_env.get_current_time() + timedelta(days=7)
    item = await feed.snooze(pool, ts_env.client, idle, user_id, nid, until)
    assert item.snoozed_until == until and await _visible(pool, user_id) == []

    started = time.monotonic()
    async with herald_worker(ts_env.client, pool, idle):  # a worker that did not exist when the item slept
        handle = _handle(ts_env.client, nid, until)
        await ts_env.sleep(timedelta(days=7, minutes=1))
        assert await handle.result() is True
    assert time.monotonic() - started < 30  # seven days, skipped
    woke = await feed_store.get_item(pool, user_id, nid)
    assert woke is not None and woke.snoozed_until is None
    assert await _visible(pool, user_id) == [nid]
    _record("snooze-week", (await handle.fetch_history()).to_json())


async def test_snoozing_again_moves_the_wake_and_the_earlier_timer_leaves_the_item(
        harness: Harness, ts_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    user_id, nid = await _delivered_item(harness)
    now = await ts_env.get_current_time()
    first, second = now + timedelta(hours=1), now + timedelta(days=2)
    await feed.snooze(pool, ts_env.client, harness.settings, user_id, nid, first)
    await feed.snooze(pool, ts_env.client, harness.settings, user_id, nid, second)
    await ts_env.sleep(timedelta(hours=1, minutes=1))
    assert await _handle(ts_env.client, nid, first).result() is False  # the item sleeps until `second` now
    still = await feed_store.get_item(pool, user_id, nid)
    assert still is not None and still.snoozed_until == second
    await ts_env.sleep(timedelta(days=2))
    assert await _handle(ts_env.client, nid, second).result() is True
    assert await _visible(pool, user_id) == [nid]

    # A time already past wakes the item at once.
    past = await ts_env.get_current_time() - timedelta(minutes=1)
    await feed.snooze(pool, ts_env.client, harness.settings, user_id, nid, past)
    assert await _handle(ts_env.client, nid, past).result() is True
    assert await _visible(pool, user_id) == [nid]
