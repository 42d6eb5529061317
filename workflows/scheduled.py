"""ScheduledBroadcastWorkflow: one fire of a recurring broadcast, started by its Temporal Schedule.

It stores the fire's broadcast (an activity; the broadcast id is derived from this workflow's id, which Temporal
gives every fire of one scheduled time) and runs it as a child BroadcastWorkflow, awaited, so the schedule's
overlap policy sees a fire as running until its broadcast has started every recipient. A second run for the
same fire finds the broadcast stored and its workflow started: nobody gets the fire's message twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.schedules import REFUSED, FireInput, ScheduleActivities
    from core.models import ScheduledBroadcastInput
    from core.workflow_options import broadcast_start
    from workflows.broadcast import BroadcastWorkflow

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                     non_retryable_error_types=[REFUSED])


@dataclass
class ScheduledBroadcastResult:
    broadcast_id: str | None
    skipped: str | None = None


@workflow.defn(name="ScheduledBroadcastWorkflow")
class ScheduledBroadcastWorkflow:
    @workflow.run
    async def run(self, inp: ScheduledBroadcastInput) -> ScheduledBroadcastResult:
        fire_id = workflow.info().workflow_id
        fire = await workflow.execute_activity_method(
            ScheduleActivities.prepare_fire, FireInput(schedule_id=inp.schedule_id, fire_id=fire_id),
            start_to_close_timeout=timedelta(seconds=60), retry_policy=_RETRY)
        if fire.broadcast is None or fire.workflow_id is None:
            return ScheduledBroadcastResult(broadcast_id=None, skipped=fire.skipped)
        b = fire.broadcast
        # The API's broadcast start options (core.workflow_options); the id is the stored broadcast's,
        # `fire.workflow_id`, the same one. The task timeout is the one these children were always recorded with
        # (Temporal's default), so the command is the one it always was.
        options = broadcast_start(b)
        try:
            # ABANDON: canceling or terminating this fire never cuts a broadcast short halfway; cancel the
            # broadcast itself (POST /v1/broadcasts/{id}/cancel) to stop it.
            await workflow.execute_child_workflow(
                BroadcastWorkflow.run, b, id=fire.workflow_id, id_reuse_policy=options.id_reuse_policy,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON, priority=options.priority,
                task_timeout=options.task_timeout)
        except WorkflowAlreadyStartedError:
            pass  # an earlier run of this fire started it
        return ScheduledBroadcastResult(broadcast_id=b.broadcast_id)
