"""The two yardsticks Herald is measured against, on the same Temporal server:

- EmptyWorkflow: does nothing; started eagerly on an unsandboxed worker, it is the floor cost of a workflow
  (the ceiling on throughput).
- NaiveNotificationWorkflow: the straightforward notification (render, deliver, record as three regular
  activities) on the SDK's default sandboxed runner: what a first implementation gets.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@workflow.defn(name="BenchEmptyWorkflow")
class EmptyWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        return n


@activity.defn(name="bench_render")
async def render(n: int) -> str:
    return f"Hello, this is message #{n}"


@activity.defn(name="bench_deliver")
async def deliver(body: str) -> str:
    return f"sim-{len(body)}"


@activity.defn(name="bench_record")
async def record(message_id: str) -> None:
    return None


@workflow.defn(name="BenchNaiveNotificationWorkflow")
class NaiveNotificationWorkflow:
    @workflow.run
    async def run(self, n: int) -> str:
        timeout = timedelta(seconds=30)
        body = await workflow.execute_activity(render, n, start_to_close_timeout=timeout)
        message_id = await workflow.execute_activity(deliver, body, start_to_close_timeout=timeout)
        await workflow.execute_activity(record, message_id, start_to_close_timeout=timeout)
        return message_id
