"""The two yardsticks Herald is measured against, on the same Temporal server:

- EmptyWorkflow: does nothing; started eagerly on an unsandboxed worker, it is the floor cost of a workflow
  (the ceiling on throughput).
- NaiveNotificationWorkflow: the straightforward notification (render, deliver, record as three regular
  activities) on the SDK's default sandboxed runner: what a first implementation gets.

And one bound: ShapeWorkflow has the Temporal shape the contract gives every notification (docs/spec: four search
attributes at start, kept current) with Herald's two local steps doing nothing: what a notification costs the
server before Herald's own code, PostgreSQL or the API spend anything.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():  # the naive workflow's sandbox would re-import it otherwise
    from core.temporal import STATUS_KEY


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


@activity.defn(name="bench_nothing")
async def nothing(n: int) -> int:
    return n


@workflow.defn(name="BenchShapeWorkflow")
class ShapeWorkflow:
    """A plain send's history without its work: two local-activity markers and the final status upsert."""

    @workflow.run
    async def run(self, n: int) -> int:
        timeout = timedelta(seconds=30)
        await workflow.execute_local_activity(nothing, n, start_to_close_timeout=timeout)  # prepare
        await workflow.execute_local_activity(nothing, n, start_to_close_timeout=timeout)  # deliver
        workflow.upsert_search_attributes([STATUS_KEY.value_set("delivered")])
        return n


@workflow.defn(name="BenchUpsertWorkflow")
class UpsertWorkflow:
    """The empty workflow plus the final status upsert (`python -m bench.decompose` prices each part)."""

    @workflow.run
    async def run(self, n: int) -> int:
        workflow.upsert_search_attributes([STATUS_KEY.value_set("delivered")])
        return n
