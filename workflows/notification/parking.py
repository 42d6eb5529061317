"""Dead-letter parking: the compensating records, then a durable wait for a human's retry or discard.

A parked run whose history has grown long continues as new, starting parked with all it knew (`Parked`); the
retention counts from the first decision to park, across those runs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.record import RecordActivities
    from core.models import DeadLetter, NotificationInput, Status

from workflows.notification import versions
from workflows.notification.state import Notification
from workflows.notification.steps import Steps


class Parking:
    def __init__(self, inp: NotificationInput, notification: Notification, steps: Steps) -> None:
        self._inp = inp
        self._n = notification
        self._steps = steps

    async def park(self, error: str) -> bool:
        """The compensating dead-letter step, then a durable wait for a human. True means: try again."""
        inp, n = self._inp, self._n
        keeps_signals = versions.parking_keeps_signals()
        if keeps_signals:
            # From here on a retry or discard counts, however long the records below take.
            n.action = None
            n.parking = True
        n.state.last_error = error
        now = workflow.now()
        for d in n.state.deliveries:
            if d.status == Status.DEAD_LETTERED:
                await self._steps.run(
                    RecordActivities.dead_letter,
                    DeadLetter(notification_id=inp.notification_id, channel=d.channel,
                               error=d.last_error or error, attempts=d.attempts, at=now),
                )
        await self._steps.transition(Status.DEAD_LETTERED, "dead_lettered", error)
        if not keeps_signals:
            n.action = None
        # The retention counts from here, also in the runs this one may continue as new into.
        return await self.wait(workflow.now() + timedelta(seconds=inp.retry.dlq_retention_s),
                               may_continue=keeps_signals)

    async def wait(self, until: datetime, may_continue: bool) -> bool:
        """The durable wait for a human until `until`, the end of the retention. True means: try again."""
        inp, n, steps = self._inp, self._n, self._steps
        if may_continue and _should_continue_as_new(inp):
            # Handlers first: an update still recording would be cut off, and its caller left without an answer.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if n.action is None and not n.cancel_requested:
                workflow.continue_as_new(replace(inp, parked=n.parked_until(until)))
        try:
            await workflow.wait_condition(lambda: n.action is not None or n.cancel_requested,
                                          timeout=max(until - workflow.now(), timedelta(0)))
        except TimeoutError:
            await steps.resolve(inp.notification_id, "expired")
            await steps.record("expired", "dead-letter retention ended; the workflow closed")
            return False
        if n.cancel_requested:
            await steps.resolve(inp.notification_id, "canceled")
            await steps.finish(Status.CANCELED, "canceled", "canceled while dead-lettered")
            return False
        if n.unpark() == "discard":
            await steps.resolve(inp.notification_id, "discarded")
            await steps.finish(Status.DISCARDED, "discarded", "discarded from the dead-letter queue")
            return False
        await steps.resolve(inp.notification_id, "retried")
        n.retry_dead_letters()
        return True


def _should_continue_as_new(inp: NotificationInput) -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() >= inp.history_limit
