"""RetentionWorkflow: what the retention schedule runs (see activities/retention.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities, RetentionInput, RetentionResult

# A first pass over a large backlog can take hours; the heartbeat after each batch, not the pass, shows it alive.
PASS_TIMEOUT = timedelta(hours=6)
BATCH_TIMEOUT = timedelta(minutes=2)


@workflow.defn
class RetentionWorkflow:
    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionResult:
        return await workflow.execute_activity_method(RetentionActivities.delete_expired, inp,
                                                      start_to_close_timeout=PASS_TIMEOUT,
                                                      heartbeat_timeout=BATCH_TIMEOUT)
