"""ReconcileWorkflow: what the reconciler's Temporal Schedule runs every minute (see activities/reconcile.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities, ReconcileInput, ReconcileResult


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileResult:
        return await workflow.execute_activity_method(
            ReconcileActivities.start_unstarted, inp, start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(minutes=1))
