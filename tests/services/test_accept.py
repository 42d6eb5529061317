"""The accept service called directly, without HTTP, on the real database; the outbox started on the real
Temporal dev server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.schemas import NotificationCreate
from core.errors import Problem
from core.ids import client_key
from core.secrets import new_webhook_secret
from core.settings import Settings
from services.accept import Caller, accept
from services.outbox import start_claimed
from services.starting import start_notification_workflow, workflow_input
from store import layouts, notifications, outbox, templates, users
from store.templates import RenderPins
from tests.api.conftest import eventually
from tests.conftest import free_port
from tests.statements import CountingPool

CALLER = Caller(key="svc-test", is_admin=False)


def _settings() -> Settings:
    # A task queue no worker polls: the workflow stays as the start left it, so the test sees starts only.
    # Temporal's address answers nothing: accepting must not need it.
    return Settings(HERALD_TASK_QUEUE=f"accept-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret(),
                    TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")


async def _template_and_user(pool: asyncpg.Pool) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    template, user_id = f"acc-{suffix}", f"accu-{suffix}"
    async with pool.acquire() as conn:
        await templates.create(conn, template, "Hi {{ name }}", "Hello {{ name }}", None)
    await users.create(pool, user_id, {"name": "Ada"})
    return template, user_id


@contextlib.asynccontextmanager
async def _rolled_back(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[Any]]:
    """A connection whose writes are all undone at the end, whatever the test did."""
    async with pool.acquire() as conn:
        rollback = conn.transaction()
        await rollback.start()
        try:
            yield conn
        finally:
            await rollback.rollback()


def _body(template: str, user_id: str, priority: str = "transactional") -> NotificationCreate:
    return NotificationCreate.model_validate({"template": template, "user_id": user_id, "channels": ["in_app"],
                                              "data": {"name": "Ada"}, "priority": priority})


async def test_accepting_is_one_read_and_one_write_and_needs_no_temporal(pool: asyncpg.Pool) -> None:
    settings = _settings()
    template, user_id = await _template_and_user(pool)
    counting = CountingPool(pool)

    status, n = await accept(cast(asyncpg.Pool, counting), settings, _body(template, user_id, "otp"),
                             f"one-{uuid.uuid4().hex}", CALLER)

    assert status == 202 and n.status == "accepted"
    writes = [q for q in counting.statements if "INSERT" in q]
    assert len(counting.statements) == 2 and len(writes) == 1, counting.statements
    assert "INSERT INTO workflow_start" in writes[0]  # the start intent goes with the notification
    intent = await pool.fetchrow("SELECT task_queue, rank, attempts FROM workflow_start WHERE notification_id = $1",
                                 n.id)
    assert intent is not None and dict(intent) == {"task_queue": settings.task_queue, "rank": 1, "attempts": 0}


async def test_the_same_key_twice_makes_one_row_and_one_workflow(dev_env: WorkflowEnvironment,
                                                                 pool: asyncpg.Pool) -> None:
    settings = _settings()
    client = await Client.connect(dev_env.client.service_client.config.target_host)
    template, user_id = await _template_and_user(pool)
    body = _body(template, user_id)
    key = f"same-{uuid.uuid4().hex}"

    status, first = await accept(pool, settings, body, key, CALLER)
    assert status == 202 and first.status == "accepted" and first.created_by == CALLER.key
    status, again = await accept(pool, settings, body, key, CALLER)
    assert status == 200 and again.id == first.id and again.workflow_id == first.workflow_id
    assert await pool.fetchval("SELECT count(*) FROM notification WHERE idempotency_key = $1",
                               client_key(CALLER.key, key)) == 1
    assert await outbox.waiting(pool, settings.task_queue) == 1

    assert await start_claimed(pool, client, settings, await outbox.claim(pool, settings.task_queue, 10, 30))
    handle = client.get_workflow_handle(first.workflow_id)
    try:
        described = await handle.describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
        assert await outbox.waiting(pool, settings.task_queue) == 0
        runs = await eventually(lambda: _runs(client, first.workflow_id), what="the start to be listed")
        assert runs == [described.run_id]
    finally:
        await handle.terminate("test over")


async def _runs(client: Client, workflow_id: str) -> list[str]:
    return [w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def test_a_worker_dying_between_claim_and_start_or_after_the_start_still_starts_once(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings = _settings()
    client = await Client.connect(dev_env.client.service_client.config.target_host)
    template, user_id = await _template_and_user(pool)
    _, before_start = await accept(pool, settings, _body(template, user_id), None, CALLER)
    _, after_start = await accept(pool, settings, _body(template, user_id), None, CALLER)

    # A worker claims both with a short lease and dies; nobody else can take them until the lease passes.
    assert len(await outbox.claim(pool, settings.task_queue, 10, 0.5)) == 2
    assert await outbox.claim(pool, settings.task_queue, 10, 30) == []
    # It had started one of them before it died: the row is still there.
    await start_notification_workflow(client, workflow_input(after_start, settings), task_queue=settings.task_queue)
    first_run = (await client.get_workflow_handle(after_start.workflow_id).describe()).run_id

    claimed = await eventually(lambda: outbox.claim(pool, settings.task_queue, 10, 30), what="the lease to pass")
    assert {c.subject.id for c in claimed} == {before_start.id, after_start.id}
    assert await start_claimed(pool, client, settings, claimed)

    try:
        assert await outbox.waiting(pool, settings.task_queue) == 0
        for n in (before_start, after_start):
            runs = await eventually(lambda n=n: _runs(client, n.workflow_id), what="the start to be listed")  # type: ignore[misc]
            assert len(runs) == 1
            events = await pool.fetch("SELECT event FROM notification_event WHERE notification_id = $1", n.id)
            assert [e["event"] for e in events].count("started") == 1
        assert (await _runs(client, after_start.workflow_id)) == [first_run]
    finally:
        for n in (before_start, after_start):
            await client.get_workflow_handle(n.workflow_id).terminate("test over")


async def test_an_otp_behind_ten_thousand_marketing_rows_is_claimed_first(pool: asyncpg.Pool) -> None:
    settings = _settings()
    template, user_id = await _template_and_user(pool)
    async with _rolled_back(pool) as conn:
        # 10,000 marketing notifications accepted first, written as accept writes them but in one statement,
        # and rolled back at the end (their status events too: never committed, never relayed).
        await conn.execute(
            """WITH n AS (
                   INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, recipient,
                                             channels, priority, template, template_version, data)
                   SELECT $1 || i, $1 || i, 'h', 'notification-' || $1 || i, 'accepted', '{}', '{in_app}',
                          'marketing', $2, 1, '{}' FROM generate_series(1, 10000) AS i
                   RETURNING id)
               INSERT INTO workflow_start (notification_id, task_queue, rank)
               SELECT id, $3, 5 FROM n""",
            f"mkt-{uuid.uuid4().hex[:8]}-", template, settings.task_queue)
        _, otp = await accept(pool, settings, _body(template, user_id, "otp"), None, CALLER)
        _, transactional = await accept(pool, settings, _body(template, user_id), None, CALLER)

        claimed = await outbox.claim(conn, settings.task_queue, 3, 30)

        assert [c.subject.id for c in claimed][:2] == [otp.id, transactional.id]
        assert claimed[2].subject.priority == "marketing"


async def test_an_unknown_template_is_refused_with_422_and_stores_nothing(pool: asyncpg.Pool) -> None:
    _, user_id = await _template_and_user(pool)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    body = NotificationCreate.model_validate({"template": missing, "user_id": user_id, "channels": ["in_app"],
                                              "data": {"name": "Ada"}})
    key = f"refused-{uuid.uuid4().hex}"

    with pytest.raises(Problem) as refused:
        await accept(pool, _settings(), body, key, CALLER)

    assert refused.value.status == 422 and refused.value.code == "unknown_template"
    assert refused.value.details == [{"field": "template", "message": f"template '{missing}' does not exist"}]
    assert await pool.fetchval("SELECT count(*) FROM notification WHERE idempotency_key = $1",
                               client_key(CALLER.key, key)) == 0


async def test_a_layout_and_nested_includes_are_read_with_the_template_in_the_one_read(pool: asyncpg.Pool) -> None:
    settings = _settings()
    _, user_id = await _template_and_user(pool)
    suffix = uuid.uuid4().hex[:8]
    name, layout, outer, inner = f"nest-{suffix}", f"lay-{suffix}", f"outer-{suffix}", f"inner-{suffix}"
    async with pool.acquire() as conn:
        await templates.create(conn, inner, None, "inner text", None)
        await templates.create(conn, outer, None, f'{{% include "{inner}" %}}', None, includes=(inner,))
        await layouts.create(conn, layout, "<main>{{ content }}</main>", "{{ content }}", ())
        await templates.create(conn, name, "Hi {{ name }}", f'Hello {{{{ name }}}} {{% include "{outer}" %}}',
                               None, layout=layout, includes=(outer,))
    counting = CountingPool(pool)

    _, n = await accept(cast(asyncpg.Pool, counting), settings, _body(name, user_id), None, CALLER)

    assert len(counting.statements) == 2, counting.statements
    assert await notifications.render_pins(pool, n.id) == RenderPins(layout=(layout, 1),
                                                                      includes={outer: 1, inner: 1})
    # An include deleted since: the template can no longer be rendered, and accepting says which part is gone.
    await templates.delete(pool, inner)
    with pytest.raises(Problem) as refused:
        await accept(pool, settings, _body(name, user_id), None, CALLER)
    assert refused.value.code == "unknown_include" and refused.value.details == [{
        "field": "template", "message": f"template '{name}' includes template '{inner}', which does not exist"}]


async def test_a_claim_takes_no_more_rows_than_asked_whatever_the_plan(pool: asyncpg.Pool) -> None:
    """With the rows picked in a subquery that the plan runs again for each row it updates, the rows updated so far
    are skipped as locked and the next ones taken: a claim of 2 took 3 (a worker with 2 free slots started 3).
    Here the planner is steered to that plan; the rows are rolled back."""
    settings = _settings()
    template, user_id = await _template_and_user(pool)
    async with _rolled_back(pool) as conn:
        for _ in range(5):
            await accept(cast(asyncpg.Pool, conn), settings, _body(template, user_id), None, CALLER)
        await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                           "SET LOCAL enable_material = off; SET LOCAL enable_hashagg = off; "
                           "SET LOCAL enable_sort = off")

        assert len(await outbox.claim(conn, settings.task_queue, 2, 30)) == 2
