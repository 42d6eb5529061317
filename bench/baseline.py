"""Runs the yardsticks in this process against the benchmark's Temporal server: workflows per second."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.common import TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.baseline_workflows import (
    EmptyWorkflow,
    NaiveNotificationWorkflow,
    ShapeWorkflow,
    deliver,
    nothing,
    record,
    render,
)
from bench.progress import Progress
from core.temporal import notification_search_attributes

# Workflows each yardstick runs before it is timed: its worker's and the server's first ones cost more.
WARM_UP = 20


async def drive(client: Client, workflow: str, queue: str, n: int, concurrency: int, eager: bool,
                progress: Progress, search_attributes: TypedSearchAttributes | None = None) -> float:
    """Starts n workflows, C starts in flight at a time; returns completed workflows per second.

    Completion is counted from visibility, not by awaiting each result: a result is a long poll per workflow,
    load the server would not carry in production and that Herald's own measurement does not add either.
    """
    counter = itertools.count()
    run = uuid.uuid4().hex[:8]

    async def starter() -> None:
        while (index := next(counter)) < n:
            await client.start_workflow(workflow, index, id=f"bench-{run}-{index}", task_queue=queue,
                                        request_eager_start=eager, search_attributes=search_attributes)

    started = time.monotonic()
    starting = asyncio.gather(*(starter() for _ in range(concurrency)))
    query = f'WorkflowId STARTS_WITH "bench-{run}-" AND ExecutionStatus = "Completed"'
    while True:
        await asyncio.sleep(0.25)
        done = (await client.count_workflows(query)).count
        progress.update(done)
        if done >= n:
            break
    await starting
    return n / (time.monotonic() - started)


async def _unsandboxed(address: str, workflow: type, name: str, n: int, concurrency: int, eager: bool,
                       label: str, search_attributes: TypedSearchAttributes | None = None,
                       activities: Sequence[Callable[..., Any]] = ()) -> float:
    """n runs of one yardstick workflow on a worker of its own, unsandboxed like Herald's (after a warm-up)."""
    client = await Client.connect(address)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    progress = Progress(label, n)
    async with Worker(client, task_queue=queue, workflows=[workflow], activities=activities,
                      workflow_runner=UnsandboxedWorkflowRunner()):
        await drive(client, name, queue, min(n, WARM_UP), concurrency, eager, Progress("warm-up", WARM_UP),
                    search_attributes)
        rate = await drive(client, name, queue, n, concurrency, eager, progress, search_attributes)
    progress.close(f"{rate:.1f} workflows/s")
    return rate


def started_like_herald() -> TypedSearchAttributes:
    return notification_search_attributes("accepted", ["sim"], "transactional", None)


async def ceiling(address: str, n: int, concurrency: int, label: str = "ceiling (empty workflow)") -> float:
    """Empty workflows, eager start, unsandboxed: the most a workflow can cost less than."""
    return await _unsandboxed(address, EmptyWorkflow, "BenchEmptyWorkflow", n, concurrency, True, label)


async def floor(address: str, n: int, concurrency: int) -> float:
    """Empty workflows started the way Herald's API starts a notification: not eagerly, with the contract's four
    search attributes. What no notification can cost less than; the gap to the ceiling is the server's."""
    return await _unsandboxed(address, EmptyWorkflow, "BenchEmptyWorkflow", n, concurrency, False,
                              "floor (empty, started like Herald)", started_like_herald())


async def shape(address: str, n: int, concurrency: int, eager: bool) -> float:
    """Herald's history shape with no work in it (ShapeWorkflow), started like Herald: eagerly or not. The most
    Herald could reach on this server if its own code, PostgreSQL and the API cost nothing."""
    how = "eager" if eager else "not eager"
    return await _unsandboxed(address, ShapeWorkflow, "BenchShapeWorkflow", n, concurrency, eager,
                              f"shape (Herald's history, no work, {how})", started_like_herald(), [nothing])


async def naive(address: str, n: int, concurrency: int) -> float:
    """Three regular activities, default sandbox, no eager start: the straightforward notification."""
    client = await Client.connect(address)
    queue = f"bench-naive-{uuid.uuid4().hex[:6]}"
    progress = Progress("naive (3 activities)", n)
    async with Worker(client, task_queue=queue, workflows=[NaiveNotificationWorkflow],
                      activities=[render, deliver, record]):
        await drive(client, "BenchNaiveNotificationWorkflow", queue, min(n, WARM_UP), concurrency, False,
                     Progress("warm-up", WARM_UP))
        rate = await drive(client, "BenchNaiveNotificationWorkflow", queue, n, concurrency, False, progress)
    progress.close(f"{rate:.1f} workflows/s")
    return rate
