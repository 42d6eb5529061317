"""SnoozeWorkflow: one snoozed inbox item, brought back at its time by a durable timer.

    snooze (API) ─> item hidden, workflow started ─(timer until `until`)─> wake: item back in the feed, pushed live

The timer lives in Temporal's history, so the item comes back on time even if every process restarted in
between. Snoozing the item again to another time starts another workflow; the wake of an older one finds the
item snoozed to another time and leaves it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.snooze import SnoozeActivities
    from core.models import SnoozeInput

_STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30))


@workflow.defn(name="SnoozeWorkflow")
class SnoozeWorkflow:
    @workflow.run
    async def run(self, inp: SnoozeInput) -> bool:
        """True when this snooze woke the item (False: snoozed again to another time, or gone)."""
        delay = inp.until - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        woke: bool = await workflow.execute_activity_method(
            SnoozeActivities.wake, inp, start_to_close_timeout=timedelta(seconds=30), retry_policy=_STORE_RETRY)
        return woke
