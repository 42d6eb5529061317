"""The broadcast service called directly, without HTTP, on the real PostgreSQL and the real Temporal dev server."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.errors import Problem
from core.settings import Settings
from services import broadcasts
from store import templates
from tests.api.conftest import eventually
from tests.conftest import SECRET, free_port


def _settings() -> Settings:
    # A task queue no worker polls: a started broadcast stays started, and sends nothing.
    return Settings(HERALD_TASK_QUEUE=f"svc-bc-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET)


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

    first, created = await broadcasts.create(pool, dev_env.client, settings, _sent(template), key, key_id="key-a")
    again, created_again = await broadcasts.create(pool, dev_env.client, settings, _sent(template), key,
                                                   key_id="key-a")

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
    other, created_other = await broadcasts.create(pool, dev_env.client, settings, _sent(template), key,
                                                   key_id="key-b")
    assert created_other and other.broadcast.id != b.id


async def test_refusals_are_problems_and_store_nothing(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template, key = _settings(), await _template(pool), f"k-{uuid.uuid4().hex}"

    with pytest.raises(Problem) as unknown:
        await broadcasts.create(pool, dev_env.client, settings, _sent("no-such-template"), key, key_id="key-a")
    assert (unknown.value.status, unknown.value.code) == (422, "unknown_template")
    assert unknown.value.details == [{"field": "template", "message": "template 'no-such-template' does not exist"}]

    with pytest.raises(Problem) as missing:
        await broadcasts.create(pool, dev_env.client, settings, _sent(template, data={}), key, key_id="key-a")
    assert (missing.value.status, missing.value.code) == (422, "missing_variable")
    assert missing.value.details[0]["field"] == "data.news"

    with pytest.raises(Problem) as unavailable:
        await broadcasts.create(pool, dev_env.client, settings, _sent(template, channels=["push"]), key,
                                key_id="key-a")
    assert (unavailable.value.status, unavailable.value.code) == (422, "channel_unavailable")
    assert await pool.fetchval("SELECT count(*) FROM broadcast WHERE template = $1", template) == 0

    # The key, once used, refuses a different request.
    made, _ = await broadcasts.create(pool, dev_env.client, settings, _sent(template), key, key_id="key-a")
    with pytest.raises(Problem) as conflict:
        await broadcasts.create(pool, dev_env.client, settings, _sent(template, data={"news": "other"}), key,
                                key_id="key-a")
    assert (conflict.value.status, conflict.value.code) == (409, "idempotency_conflict")
    assert conflict.value.details == {"broadcast_id": made.broadcast.id}

    with pytest.raises(Problem) as unknown_id:
        await broadcasts.get(pool, made.broadcast.id, key_id="key-b", sees_all=False)
    assert (unknown_id.value.status, unknown_id.value.code) == (404, "not_found")


async def test_temporal_down_is_a_503_problem_and_the_repeat_starts_the_stored_broadcast(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template, key = _settings(), await _template(pool), f"k-{uuid.uuid4().hex}"
    down = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)

    with pytest.raises(Problem) as outage:
        await broadcasts.create(pool, down, settings, _sent(template), key, key_id="key-a")
    assert (outage.value.status, outage.value.code) == (503, "temporal_unavailable")
    stored = await pool.fetchrow("SELECT id, workflow_id FROM broadcast WHERE template = $1", template)
    assert stored is not None and outage.value.details == {"broadcast_id": stored["id"]}

    again, created = await broadcasts.create(pool, dev_env.client, settings, _sent(template), key, key_id="key-a")
    assert not created and again.broadcast.id == stored["id"]
    described = await dev_env.client.get_workflow_handle(stored["workflow_id"]).describe()
    assert described.workflow_type == "BroadcastWorkflow"
