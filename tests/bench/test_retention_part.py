"""The bench part `retention` at a tiny size: a paced deletion longer than the load is stopped when the load's
backlog is final, and the part reports what it deleted while it ran and the rate a million rows would take."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from bench import retention
from bench.stack import Stack
from tests.api.conftest import eventually
from tests.bench.conftest import serving_stack


@pytest.fixture(scope="module")
async def bench_stack(pg_server: Any, dev_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    async with serving_stack(pg_server, dev_env, "retention") as stack:
        stack.env["HERALD_RETENTION_DUTY"] = "0.01"  # slow enough to outlast a three-second load
        stack.start_worker()
        yield stack


async def test_a_paced_deletion_is_measured_while_it_runs_and_then_stopped(bench_stack: Stack) -> None:
    result = await retention.measure(bench_stack, 20_000, 10, 3)

    assert not result["deletion_finished"]
    left = await retention.aged_left(bench_stack)
    assert 0 < result["deleted_notifications"] == 20_000 - left < 20_000
    assert result["deleted_per_s"] > 0 and result["million_rows_s"] > 0
    assert result["answered_while_deleting"] == result["answered"] == 30
    assert result["refused"] == {"alone": 0, "deleting": 0}
    rows = dict(retention.table_rows(result))
    assert any("1,000,000 in" in value for value in rows.values())

    async def stopped() -> bool:
        running = [w async for w in bench_stack.client.list_workflows(
            'WorkflowType = "RetentionWorkflow" AND ExecutionStatus = "Running"')]
        return not any(w.id.startswith("retention-bench-") for w in running)
    await eventually(stopped, what="the bench's retention pass stopped")
