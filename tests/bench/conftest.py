"""A bench stack of the test run's own: its database on the session's PostgreSQL, Herald's processes on the
session's Temporal server, its API serving."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from temporalio.testing import WorkflowEnvironment

from bench.stack import Stack, start_stack
from tests.conftest import new_database


@asynccontextmanager
async def serving_stack(pg_server: Any, dev_env: WorkflowEnvironment, name: str) -> AsyncIterator[Stack]:
    url = await new_database(pg_server, f"{name}_{uuid.uuid4().hex[:8]}")
    stack = await start_stack(dev_env.client.service_client.config.target_host, url)
    try:
        await stack.start_api()
        yield stack
    finally:
        await stack.close()
