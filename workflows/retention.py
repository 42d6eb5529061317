"""RetentionWorkflow: what the retention schedule runs (see activities/retention.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities, RetentionInput, RetentionResult


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionResult:
        # A first pass over a large backlog can take long; the heartbeat, not the whole pass, shows it is alive.
        return await workflow.execute_activity_method(
            RetentionActivities.delete_expired, inp, start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(minutes=2))
