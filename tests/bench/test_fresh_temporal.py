"""The bench's `fresh_temporal`: a part that measures under load starts on an empty Temporal server of the stack's
own, with Herald's processes stopped and pointed at it; a stack on a server it does not own keeps that one."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.stack import Stack, start_stack
from core.temporal import notification_search_attributes
from tests.bench.conftest import serving_stack
from tests.conftest import new_database


async def _workflows(client: Client) -> int:
    return len([w async for w in client.list_workflows()])


async def _start_one(stack: Stack) -> None:
    # Nothing polls the queue: the workflow stays open on the server that holds it. The search attributes are
    # Herald's, so the start fails on a server that lacks them.
    attributes = notification_search_attributes("accepted", ["email"], "normal", None)
    await stack.client.start_workflow("Unpolled", id=f"fresh-{uuid.uuid4().hex[:8]}", task_queue="nobody-polls",
                                      search_attributes=attributes)


async def test_an_own_server_is_replaced_by_an_empty_one_and_herald_stopped(pg_server: Any) -> None:
    url = await new_database(pg_server, f"fresh_{uuid.uuid4().hex[:8]}")
    stack = await start_stack(None, url)
    try:
        await _start_one(stack)
        assert await _workflows(stack.client) == 1
        old_server, old_address = stack._temporal, stack.temporal_address
        stack.start_worker()
        await stack.start_api()

        assert await stack.fresh_temporal()

        assert old_server is not None and old_server.poll() is not None  # stopped
        assert stack.temporal_address != old_address
        assert stack.env["TEMPORAL_ADDRESS"] == stack.temporal_address  # what the next processes connect to
        assert stack.api is None and stack.workers == []
        assert await _workflows(stack.client) == 0
        await _start_one(stack)  # Herald's search attributes are registered on the new one
        assert await _workflows(stack.client) == 1
    finally:
        await stack.close()


async def test_a_server_the_stack_does_not_own_is_kept(pg_server: Any, dev_env: WorkflowEnvironment) -> None:
    async with serving_stack(pg_server, dev_env, "fresh_external") as stack:
        address, api = stack.temporal_address, stack.api

        assert not await stack.fresh_temporal()

        assert stack.temporal_address == address and stack.api is api and api is not None and api.poll() is None
