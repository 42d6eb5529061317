"""The broadcast service called directly, without HTTP, on the real PostgreSQL and the real Temporal dev server;
its workflow and its recipients' started from the outbox as a worker's starter starts them."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.broadcast import BroadcastActivities
from core.errors import Problem
from core.models import BroadcastPageInput, BroadcastStartInput
from core.settings import Settings
from services import broadcasts
from services.outbox import start_claimed
from store import broadcasts as broadcast_rows
from store import outbox, templates
from tests.api.conftest import eventually
from tests.conftest import SECRET, free_port


def _settings() -> Settings:
    # A task queue no worker polls: a started workflow stays started, and sends nothing.
    return Settings(HERALD_TASK_QUEUE=f"svc-bc-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET)


async def _start_waiting(pool: asyncpg.Pool, client: Client, settings: Settings) -> int:
    """What a worker's starter does: claims every start waiting for the queue and starts them. Returns how many."""
    claimed = await outbox.claim(pool, settings.task_queue, 1000, 30)
    if claimed:
        assert await start_claimed(pool, client, settings, claimed)
    return len(claimed)


async def _template(pool: asyncpg.Pool) -> str:
    name = f"svc-bc-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await templates.create(conn, name, None, "Hello {{ user.name }}, {{ news }}", None)
    return name


def _sent(template: str, **changes: Any) -> dict[str, Any]:
    """A validated request body as the API dumps it (BroadcastCreate, as JSON)."""
    return {"template": template, "template_version": None, "data": {"news": "we shipped"}, "channels": ["in_app"],
            "priority": "marketing", "category": None,
            "audience": {"user_ids": ["u-1", "u-2"], "topic": None, "all": None}, "idempotency_key": None,
            "locale": None, **changes}


async def _runs(client: Client, workflow_id: str) -> int:
    return len([w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')])


async def test_the_same_key_twice_stores_one_broadcast_and_starts_one_workflow(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template, key = _settings(), await _template(pool), f"k-{uuid.uuid4().hex}"

    first, created = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")
    again, created_again = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")
    assert await outbox.waiting(pool, settings.task_queue) == 1  # one start intent, written with the broadcast
    assert await _start_waiting(pool, dev_env.client, settings) == 1

    assert (created, created_again) == (True, False)
    assert again.broadcast == first.broadcast
    b = first.broadcast
    assert (b.template, b.template_version, b.channels, b.audience, b.created_by) == \
        (template, 1, ["in_app"], {"user_ids": ["u-1", "u-2"]}, "key-a")
    assert await pool.fetchval("SELECT count(*) FROM broadcast WHERE template = $1", template) == 1
    described = await dev_env.client.get_workflow_handle(b.workflow_id).describe()
    assert described.workflow_type == "BroadcastWorkflow" and described.task_queue == settings.task_queue
    # Visibility lags behind the start a little: once the run shows, it is the only one.
    await eventually(lambda: _runs(dev_env.client, b.workflow_id), what="the broadcast's run to be listed")
    assert await _runs(dev_env.client, b.workflow_id) == 1

    # The same idempotency key from another API key is another broadcast.
    other, created_other = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-b")
    assert created_other and other.broadcast.id != b.id


async def test_refusals_are_problems_and_store_nothing(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template, key = _settings(), await _template(pool), f"k-{uuid.uuid4().hex}"

    with pytest.raises(Problem) as unknown:
        await broadcasts.create(pool, settings, _sent("no-such-template"), key, key_id="key-a")
    assert (unknown.value.status, unknown.value.code) == (422, "unknown_template")
    assert unknown.value.details == [{"field": "template", "message": "template 'no-such-template' does not exist"}]

    with pytest.raises(Problem) as missing:
        await broadcasts.create(pool, settings, _sent(template, data={}), key, key_id="key-a")
    assert (missing.value.status, missing.value.code) == (422, "missing_variable")
    assert missing.value.details[0]["field"] == "data.news"

    with pytest.raises(Problem) as unavailable:
        await broadcasts.create(pool, settings, _sent(template, channels=["push"]), key,
                                key_id="key-a")
    assert (unavailable.value.status, unavailable.value.code) == (422, "channel_unavailable")
    assert await pool.fetchval("SELECT count(*) FROM broadcast WHERE template = $1", template) == 0

    # The key, once used, refuses a different request.
    made, _ = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")
    with pytest.raises(Problem) as conflict:
        await broadcasts.create(pool, settings, _sent(template, data={"news": "other"}), key,
                                key_id="key-a")
    assert (conflict.value.status, conflict.value.code) == (409, "idempotency_conflict")
    assert conflict.value.details == {"broadcast_id": made.broadcast.id}

    with pytest.raises(Problem) as unknown_id:
        await broadcasts.get(pool, made.broadcast.id, key_id="key-b", sees_all=False)
    assert (unknown_id.value.status, unknown_id.value.code) == (404, "not_found")


async def test_temporal_down_accepts_the_broadcast_and_it_starts_once_temporal_answers(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template, key = _settings(), await _template(pool), f"k-{uuid.uuid4().hex}"
    down = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)

    made, created = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")
    assert created and made.broadcast.status == "accepted"
    # A worker that cannot reach Temporal hands the start back; it waits, and nothing was started.
    claimed = await outbox.claim(pool, settings.task_queue, 10, 30)
    assert [c.subject.id for c in claimed] == [made.broadcast.id]
    assert not await start_claimed(pool, down, settings, claimed)
    assert await outbox.broadcast_pending(pool, made.broadcast.id)

    again, created_again = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")
    assert not created_again and again.broadcast.id == made.broadcast.id
    assert await _start_waiting(pool, dev_env.client, settings) == 1
    described = await dev_env.client.get_workflow_handle(made.broadcast.workflow_id).describe()
    assert described.workflow_type == "BroadcastWorkflow" and described.task_queue == settings.task_queue
    assert not await outbox.broadcast_pending(pool, made.broadcast.id)


async def test_a_broadcast_canceled_before_its_start_never_starts_and_needs_no_temporal(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template, key = _settings(), await _template(pool), f"k-{uuid.uuid4().hex}"
    down = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    made, _ = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")

    canceled = await broadcasts.cancel(pool, down, made.broadcast.id)

    assert canceled.broadcast.status == "canceled"
    assert await _start_waiting(pool, dev_env.client, settings) == 0
    with pytest.raises(Problem) as again:
        await broadcasts.cancel(pool, down, made.broadcast.id)
    assert (again.value.status, again.value.code) == (409, "already_final")
    repeat, created = await broadcasts.create(pool, settings, _sent(template), key, key_id="key-a")
    assert not created and repeat.broadcast.status == "canceled"
    assert await outbox.waiting(pool, settings.task_queue) == 0  # a repeat adds no second intent
    assert await _runs(dev_env.client, made.broadcast.workflow_id) == 0


async def _users(pool: asyncpg.Pool, count: int) -> list[str]:
    ids = [f"svc-bcu-{uuid.uuid4().hex[:8]}-{i}" for i in range(count)]
    await pool.executemany("INSERT INTO app_user (id, name) VALUES ($1, $1)", [(i,) for i in ids])
    return ids


async def _fan_out_setup(dev_env: WorkflowEnvironment, pool: asyncpg.Pool, users: int
                         ) -> tuple[Settings, BroadcastActivities, broadcast_rows.BroadcastRecord, list[str]]:
    """A broadcast to `users` users, started, with its activities run as its workflow would run them on the
    broadcast's task queue (no worker polls it)."""
    settings, template = _settings(), await _template(pool)
    ids = await _users(pool, users)
    made, _ = await broadcasts.create(pool, settings, _sent(template, audience={"user_ids": ids}), None,
                                      key_id="key-a")
    await _start_waiting(pool, dev_env.client, settings)
    return settings, BroadcastActivities(pool, dev_env.client), made.broadcast, ids


def _on_queue(settings: Settings) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = replace(env.info, task_queue=settings.task_queue)
    return env


async def test_a_page_prepared_again_or_started_again_doubles_nobody(dev_env: WorkflowEnvironment,
                                                                    pool: asyncpg.Pool) -> None:
    settings, activities, b, ids = await _fan_out_setup(dev_env, pool, 5)
    env = _on_queue(settings)
    page_input = BroadcastPageInput(broadcast_id=b.id, after=None, limit=10)

    page = await env.run(activities.prepare_page, page_input)
    assert sorted(page.user_ids) == sorted(ids)
    # Each recipient's notification came with its start intent, at the broadcast's priority.
    ranks = await pool.fetch("""SELECT w.rank FROM workflow_start w JOIN notification n ON n.id = w.notification_id
                                WHERE n.broadcast_id = $1""", b.id)
    assert [r["rank"] for r in ranks] == [5] * len(ids)

    # A retry of the page before the starts, and after them: no second notification, no second intent.
    assert (await env.run(activities.prepare_page, page_input)).user_ids == page.user_ids
    assert await outbox.waiting(pool, settings.task_queue) == len(ids)
    assert await _start_waiting(pool, dev_env.client, settings) == len(ids)
    await env.run(activities.prepare_page, page_input)
    assert await env.run(activities.start_page, BroadcastStartInput(
        broadcast=broadcasts.workflow_input(b, settings), user_ids=page.user_ids)) == len(ids)
    assert await outbox.waiting(pool, settings.task_queue) == 0
    assert await pool.fetchval("SELECT count(*) FROM notification WHERE broadcast_id = $1", b.id) == len(ids)
    for row in await pool.fetch("SELECT id, workflow_id FROM notification WHERE broadcast_id = $1", b.id):
        runs = await eventually(lambda w=row["workflow_id"]: _runs(dev_env.client, w),  # type: ignore[misc]
                                what="the recipient's run to be listed")
        assert runs == 1
        events = await pool.fetch("SELECT event FROM notification_event WHERE notification_id = $1", row["id"])
        assert [e["event"] for e in events].count("started") == 1


async def test_canceling_mid_way_cancels_the_waiting_starts_and_signals_the_started(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, activities, b, _ = await _fan_out_setup(dev_env, pool, 6)
    env = _on_queue(settings)
    first = await env.run(activities.prepare_page, BroadcastPageInput(broadcast_id=b.id, after=None, limit=3))
    assert await _start_waiting(pool, dev_env.client, settings) == 3
    second = await env.run(activities.prepare_page,
                           BroadcastPageInput(broadcast_id=b.id, after=first.user_ids[-1], limit=3))

    assert await env.run(activities.cancel_recipients, b.id) == 6

    assert await outbox.waiting(pool, settings.task_queue) == 0
    rows = {r["user_id"]: r for r in await pool.fetch(
        "SELECT user_id, status, workflow_id FROM notification WHERE broadcast_id = $1", b.id)}
    assert {rows[u]["status"] for u in second.user_ids} == {"canceled"}
    deliveries = await pool.fetch("""SELECT d.status FROM delivery d JOIN notification n ON n.id = d.notification_id
                                     WHERE n.user_id = ANY($1::text[]) AND n.broadcast_id = $2""",
                                  second.user_ids, b.id)
    assert {d["status"] for d in deliveries} == {"canceled"}
    for user_id in second.user_ids:
        assert await _runs(dev_env.client, rows[user_id]["workflow_id"]) == 0
    for user_id in first.user_ids:
        history = [e async for e in dev_env.client.get_workflow_handle(
            rows[user_id]["workflow_id"]).fetch_history_events()]
        assert any(e.HasField("workflow_execution_signaled_event_attributes") for e in history)
