"""The accept service called directly, without HTTP, on the real database and Temporal dev server."""

from __future__ import annotations

import uuid

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
from store import templates, users
from tests.api.conftest import eventually

CALLER = Caller(key="svc-test", is_admin=False)


def _settings() -> Settings:
    # A task queue no worker polls: the workflow stays as the start left it, so the test sees starts only.
    return Settings(HERALD_TASK_QUEUE=f"accept-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret())


async def _template_and_user(pool: asyncpg.Pool) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    template, user_id = f"acc-{suffix}", f"accu-{suffix}"
    async with pool.acquire() as conn:
        await templates.create(conn, template, "Hi {{ name }}", "Hello {{ name }}", None)
    await users.create(pool, user_id, {"name": "Ada"})
    return template, user_id


async def test_the_same_key_twice_makes_one_row_and_one_workflow(dev_env: WorkflowEnvironment,
                                                                 pool: asyncpg.Pool) -> None:
    settings = _settings()
    client = await Client.connect(dev_env.client.service_client.config.target_host)
    template, user_id = await _template_and_user(pool)
    body = NotificationCreate.model_validate({"template": template, "user_id": user_id, "channels": ["in_app"],
                                              "data": {"name": "Ada"}})
    key = f"same-{uuid.uuid4().hex}"

    status, first = await accept(pool, client, settings, body, key, CALLER)
    assert status == 202 and first.status == "accepted" and first.created_by == CALLER.key
    handle = client.get_workflow_handle(first.workflow_id)
    run_id = (await handle.describe()).run_id
    try:
        status, again = await accept(pool, client, settings, body, key, CALLER)
        assert status == 200 and again.id == first.id and again.workflow_id == first.workflow_id

        rows = await pool.fetchval("SELECT count(*) FROM notification WHERE idempotency_key = $1",
                                   client_key(CALLER.key, key))
        assert rows == 1
        described = await handle.describe()
        assert described.run_id == run_id and described.status == WorkflowExecutionStatus.RUNNING
        runs = await eventually(lambda: _runs(client, first.workflow_id), what="the start to be listed")
        assert runs == [run_id]
    finally:
        await handle.terminate("test over")


async def _runs(client: Client, workflow_id: str) -> list[str]:
    return [w.run_id async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]


async def test_an_unknown_template_is_refused_with_422_and_stores_nothing(dev_env: WorkflowEnvironment,
                                                                         pool: asyncpg.Pool) -> None:
    client = await Client.connect(dev_env.client.service_client.config.target_host)
    _, user_id = await _template_and_user(pool)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    body = NotificationCreate.model_validate({"template": missing, "user_id": user_id, "channels": ["in_app"],
                                              "data": {"name": "Ada"}})
    key = f"refused-{uuid.uuid4().hex}"

    with pytest.raises(Problem) as refused:
        await accept(pool, client, _settings(), body, key, CALLER)

    assert refused.value.status == 422 and refused.value.code == "unknown_template"
    assert refused.value.details == [{"field": "template", "message": f"template '{missing}' does not exist"}]
    assert await pool.fetchval("SELECT count(*) FROM notification WHERE idempotency_key = $1",
                               client_key(CALLER.key, key)) == 0
