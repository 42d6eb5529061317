"""NotificationWorkflow: one notification's whole life, from accept to delivered, dead-lettered or canceled.

    accepted ─(send_at timer)─> scheduled ─> processing ─render─> deliver per channel ─> delivered
                                                  │ (retries with backoff: retrying)
                                                  ├─ out of attempts / permanent ─> dead_lettered (parked)
                                                  └─ an address gone, bounced, nothing sent ─> undelivered
    parked ── retry ─> processing (attempts keep counting) │ discard ─> discarded │ retention ─> closes
    (a parked run whose history has grown long continues as new, starting parked with all it knew)
    cancel signal, API cancel or `temporal workflow cancel` at any point before a final status ─> canceled

In-flight changes are Temporal Updates, each with a validator that refuses it once it is too late (the caller
sees the refusal; nothing is written to the history): `reschedule` and `send_now` while the notification waits
for its `send_at`, `edit_data` until its message has been rendered.

This class holds the contract (signals, updates, the query) and the main loop; the state and its transitions
are in state.py, the steps in steps.py, audience.py, delivery.py, parking.py and escalation.py, and which
command sequence a run's history took in versions.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.record import RecordActivities
    from core.models import (
        DataEdit,
        DeliverResult,
        NotificationInput,
        NotificationState,
        RenderedMessage,
        Reschedule,
        Status,
    )
    from core.temporal import STATUS_KEY

from workflows.notification import versions
from workflows.notification.audience import Gate, Verdict
from workflows.notification.delivery import Deliveries
from workflows.notification.escalation import escalate
from workflows.notification.parking import Parking
from workflows.notification.state import Notification, Refusal
from workflows.notification.steps import Steps

# The error type of an update refused because the notification has moved past the point where it applies.
TOO_LATE = "TooLate"


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise ApplicationError(refusal.message, {"status": refusal.status}, type=TOO_LATE)


@workflow.defn(name="NotificationWorkflow")
class NotificationWorkflow:
    @workflow.init
    def __init__(self, inp: NotificationInput) -> None:
        # Built from the input here, not in run: an update can arrive in the workflow's very first task,
        # before run has started, and its validator needs to see the notification.
        self._n = Notification.of(inp)
        self._steps = Steps(self._n)  # its path is chosen by run, before any step
        self._deliveries = Deliveries(inp, self._n, self._steps)
        self._gate = Gate(inp, self._n, self._steps)
        self._parking = Parking(inp, self._n, self._steps)

    # -- signals and query: the contract for the API, the dashboard and the temporal CLI --

    @workflow.signal
    def retry(self) -> None:
        # Only a parked notification can be retried; a stray signal at another time is ignored.
        self._n.ask("retry")

    @workflow.signal
    def discard(self) -> None:
        self._n.ask("discard")

    @workflow.signal
    def cancel(self) -> None:
        self._n.cancel_requested = True

    @workflow.signal
    def read(self) -> None:
        """The user read the in-app message (the inbox's read endpoints send it): no escalation is needed."""
        self._n.read = True

    @workflow.query
    def status(self) -> NotificationState:
        return self._n.state

    # Updates: each answers with the new state. None adds a command to the history unless it is used, so
    # histories from before they existed replay unchanged.

    @workflow.update
    async def reschedule(self, change: Reschedule) -> NotificationState:
        self._n.move_send_at(change.send_at)
        return await self._record_update("rescheduled", f"send_at moved to {change.send_at.isoformat()}")

    @reschedule.validator
    def _validate_reschedule(self, change: Reschedule) -> None:
        _refuse(self._n.refusal_unless_waiting("reschedule"))
        if change.send_at.tzinfo is None:
            raise ApplicationError("send_at must carry a time zone", type="InvalidArgument")

    @workflow.update
    async def send_now(self) -> NotificationState:
        self._n.move_send_at(workflow.now())
        return await self._record_update("send_now", "sent now instead of at its scheduled time")

    @send_now.validator
    def _validate_send_now(self) -> None:
        _refuse(self._n.refusal_unless_waiting("send now"))

    @workflow.update
    async def edit_data(self, edit: DataEdit) -> NotificationState:
        self._n.replace_data(edit.data)
        return await self._record_update("edited", "data replaced before rendering", data=self._n.data)

    @edit_data.validator
    def _validate_edit_data(self, edit: DataEdit) -> None:
        _refuse(self._n.refusal_of_edit())

    async def _record_update(self, event: str, detail: str, data: dict[str, Any] | None = None) -> NotificationState:
        """Records an accepted change; the main path waits for it before its next status change."""
        self._n.updates_running += 1
        try:
            # An update in the workflow's first task runs before run has chosen the steps path.
            await workflow.wait_condition(lambda: self._steps.chosen)
            await self._steps.record(event, detail, data=data)
        finally:
            self._n.updates_running -= 1
        return self._n.state

    # -- the life of one notification --

    @workflow.run
    async def run(self, inp: NotificationInput) -> NotificationState:
        self._steps.choose(versions.steps_path(inp))
        try:
            await self._live(inp)
        except asyncio.CancelledError:
            # `temporal workflow cancel`: record why, then end the execution as canceled in Temporal too.
            await self._steps.finish(Status.CANCELED, "canceled", "the workflow was canceled")
            raise
        if not workflow.all_handlers_finished() and versions.waits_for_handlers():
            await workflow.wait_condition(workflow.all_handlers_finished)
        return self._n.state

    async def _live(self, inp: NotificationInput) -> None:
        n = self._n
        if inp.parked is not None:
            # Continued as new from a parked run: this run starts parked (and is too young to continue again).
            if await self._parking.wait(inp.parked.until, may_continue=False):
                await self._round_loop(inp, n.rendered)
            return
        if n.state.send_at is not None and n.state.send_at > workflow.now():
            n.state.status = Status.SCHEDULED
            workflow.upsert_search_attributes([STATUS_KEY.value_set(Status.SCHEDULED.value)])
            await self._wait_for_send_at()
        n.dispatched = True
        if n.cancel_requested:
            await self._cancel(inp, "canceled before sending")
            return
        await self._round_loop(inp, None)

    async def _round_loop(self, inp: NotificationInput, rendered: RenderedMessage | None) -> None:
        """Checks, renders and delivers, round after round, until the notification ends or its parking does."""
        n, steps = self._n, self._steps
        while True:
            verdict, error = await self._gate.check(fused=steps.path.fused and rendered is None)
            if verdict is Verdict.DONE:
                return
            if error is not None:
                if not await self._parking.park(error):
                    return
                continue
            await steps.after_updates()
            if n.prepared is not None:  # `prepare` rendered it and recorded `processing`
                rendered, n.prepared = n.prepared, None
                n.set_status(Status.PROCESSING)
            else:
                await steps.transition(Status.PROCESSING, "processing", "delivery started")
            outcome = asyncio.ensure_future(self._deliveries.round(rendered))
            await workflow.wait_condition(lambda o=outcome: o.done() or n.cancel_requested)  # type: ignore[misc]
            if not outcome.done():
                # Stop pending retries, but let an attempt already running report how it ended: a send that
                # went through is shown as delivered, never hidden behind "canceled".
                self._deliveries.cancel_in_flight()
            rendered, failure = await outcome
            n.rendered = rendered
            if n.all_ended:
                await self._delivered()
                await escalate(inp, n, steps, self._deliveries)
                return
            if n.cancel_requested:
                await self._cancel(inp, "canceled during delivery")
                return
            assert failure is not None
            if not await self._parking.park(failure):
                return

    async def _wait_for_send_at(self) -> None:
        """The durable timer until `send_at`, started again whenever `reschedule` or `send_now` moves it.

        Unchanged, this is the single timer of workflows from before the updates existed.
        """
        n = self._n
        while n.state.send_at is not None and n.state.send_at > workflow.now():
            n.schedule_changed = False
            try:
                await workflow.wait_condition(lambda: n.cancel_requested or n.schedule_changed,
                                              timeout=n.state.send_at - workflow.now())
            except TimeoutError:
                pass
            if n.cancel_requested or not n.schedule_changed:
                break
        n.dispatched = True
        await self._steps.after_updates()

    async def _delivered(self) -> None:
        undelivery = self._n.undelivery()
        if undelivery is not None:  # nothing went out, and a delivery bounced (ADDRESS_GONE_PATCH)
            await self._steps.finish(Status.UNDELIVERED, "undelivered", undelivery)
            return
        suppression = self._n.suppression()
        if suppression is not None:  # nothing went out: every address was suppressed (SUPPRESSION_PATCH)
            await self._steps.finish(Status.SKIPPED, "skipped", suppression)
            return
        # The last send may have written the final record itself (FUSED_STEPS_PATCH).
        record = self._n.delivered_recorded_at is None
        detail = self._n.mark_delivered(workflow.now())
        await self._steps.finish(Status.DELIVERED, "delivered", detail, record=record)

    async def _cancel(self, inp: NotificationInput, detail: str) -> None:
        """Ends as canceled, unless the sends had gone through after all.

        A local delivery's result is lost when its workflow task fails (a signal arriving while it ran is
        enough), while its send is not: the receipts in PostgreSQL are the truth.
        """
        if self._steps.path.local:
            receipts: dict[str, DeliverResult] = await self._steps.run(RecordActivities.find_receipts,
                                                                       inp.notification_id)
            self._n.apply_receipts(receipts)
            if self._n.all_ended:
                await self._delivered()
                return
        await self._steps.finish(Status.CANCELED, "canceled", detail)
