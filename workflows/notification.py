"""NotificationWorkflow: one notification's whole life, from accept to delivered, dead-lettered or canceled.

    accepted ─(send_at timer)─> scheduled ─> processing ─render─> deliver per channel ─> delivered
                                                  │ (retries with backoff: retrying)
                                                  └─ out of attempts / permanent ─> dead_lettered (parked)
    parked ── retry ─> processing (attempts keep counting) │ discard ─> discarded │ retention ─> closes
    (a parked run whose history has grown long continues as new, starting parked with all it knew)
    cancel signal, API cancel or `temporal workflow cancel` at any point before a final status ─> canceled

In-flight changes are Temporal Updates, each with a validator that refuses it once it is too late (the caller
sees the refusal; nothing is written to the history): `reschedule` and `send_now` while the notification waits
for its `send_at`, `edit_data` until its message has been rendered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError
from temporalio.workflow import ActivityCancellationType, ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.audience import AudienceActivities
    from activities.deliver import DeliveryActivities
    from activities.errors import NOT_FOUND, PERMANENT_DELIVERY, TEMPLATE_ERROR
    from activities.prepare import PrepareActivities
    from activities.record import RecordActivities
    from activities.render import RenderActivities
    from core.models import (
        STEPS_FUSED,
        AudienceInput,
        DataEdit,
        DeadLetter,
        DeadLetterResolution,
        DeliverInput,
        DeliverResult,
        DeliveryState,
        NotificationInput,
        NotificationState,
        Parked,
        PrepareInput,
        PrepareResult,
        RenderedMessage,
        RenderInput,
        Reschedule,
        RetryConfig,
        Status,
        StatusChange,
        delivery_task_queue,
    )
    from core.temporal import STATUS_KEY
    from core.workflow_ids import notification_workflow_id

# Bookkeeping activities talk only to PostgreSQL: retry them until it answers, never give up on a write.
_STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30))
_STORE_TIMEOUT = timedelta(seconds=30)
# Bookkeeping, audience checks and rendering are short and talk only to PostgreSQL: from this patch on they
# run as local activities, inside the workflow task that needs them, instead of one server round trip each.
# Deliveries are chosen per channel by the input's `queued_channels` (see _deliver_with). Workflows started
# before the patch replay their recorded regular activities unchanged.
LOCAL_STEPS_PATCH = "local-steps-v2"
# From this patch on, a delivered in_app notification with an escalation waits for its read, and delivers on
# the escalation's channels when it is still unread. Only inputs with `escalate` reach it.
ESCALATION_PATCH = "escalation-v1"
# From this patch on, a due notification's audience check, render and `processing` record are one local
# activity (activities/prepare.py) instead of three, and the `processing` search attribute is written only when
# the workflow is about to wait (a queued delivery, a retry's backoff): until then the workflow task has not
# ended, nobody can see the attribute, and the final status replaces it in the same task.
FUSED_STEPS_PATCH = "fused-steps-v1"
# A failed regular activity surfaces as an ActivityError around its cause, a failed local activity as the
# cause itself (ApplicationError, TimeoutError, CancelledError): steps catch FailureError, their common base.
# A delivery in one of these needs nothing more: it went out, or the user's preferences kept it back.
_SENT_OR_SKIPPED = frozenset({Status.DELIVERED, Status.SKIPPED})
# From this patch on, parking keeps every retry and discard: the signals count from the moment the workflow
# decides to park (the dead-letter rows it writes first are what the API's DLQ retry reads), where before they
# counted only once the status was dead_lettered and were then reset after the status record, so one handled
# during those records was lost. And a parked run whose history has grown long continues as new (see
# NotificationInput.history_limit), carrying the whole notification in `Parked`.
PARKING_PATCH = "parking-v2"
# From this patch on, run returns only once every update and signal handler has finished: an update still
# recording when the notification ends gets its answer instead of an error. Asked only when a handler is in
# flight at the end, so the common path writes no marker.
HANDLERS_PATCH = "handlers-finish-v1"
# The error type of an update refused because the notification has moved past the point where it applies.
TOO_LATE = "TooLate"


def _failure_of(err: BaseException) -> BaseException:
    """The failure itself: a regular activity's comes wrapped in an ActivityError, a local one's does not."""
    return err.cause if isinstance(err, ActivityError) and err.cause is not None else err


def _error_message(err: BaseException) -> str:
    cause = _failure_of(err)
    return getattr(cause, "message", None) or str(cause)


def _attempt_of(err: BaseException, fallback: int) -> int:
    """The attempt number the failing activity reported, or `fallback` when it never got to report (timeout)."""
    cause = _failure_of(err)
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    return fallback


@workflow.defn(name="NotificationWorkflow")
class NotificationWorkflow:
    @workflow.init
    def __init__(self, inp: NotificationInput) -> None:
        # Built from the input here, not in run: an update can arrive in the workflow's very first task,
        # before run has started, and its validator needs to see the notification.
        self._state: NotificationState | None = NotificationState(
            id=inp.notification_id, workflow_id=notification_workflow_id(inp.notification_id),
            status=Status.ACCEPTED, user_id=inp.user_id, channels=list(inp.channels), priority=inp.priority,
            category=inp.category, template=inp.template, template_version=inp.template_version,
            send_at=inp.send_at, deliveries=[DeliveryState(channel=c) for c in inp.channels],
        )
        self._action: str | None = None  # "retry" | "discard", set by signals while parked
        self._cancel_requested = False
        self._in_flight: list[ActivityHandle[DeliverResult]] = []
        self._local_steps = False
        self._fused = False
        self._prepared: RenderedMessage | None = None  # rendered by `prepare`, for the round about to start
        self._status_unpublished = False  # the status search attribute lags the state (see FUSED_STEPS_PATCH)
        self._delivered_recorded_at: datetime | None = None  # the last send wrote the final record itself
        # In-flight changes (updates): the send time and data in force, and where the workflow stands.
        self._send_at: datetime | None = inp.send_at
        self._data: dict[str, Any] = dict(inp.data)
        self._started = False  # run has started (and knows whether steps are local)
        self._dispatched = False  # past the wait for send_at: too late to reschedule
        self._schedule_changed = False
        self._render_started = False
        self._updates_running = 0
        self._read = False
        self._parking = False  # from the decision to park until the parked wait ends (PARKING_PATCH)
        self._rendered: RenderedMessage | None = None  # the message of the last round, kept for continue_as_new
        if inp.parked is not None:
            self._resume(inp.parked)

    def _resume(self, parked: Parked) -> None:
        """A run continued as new from a parked one starts parked, with everything that one knew."""
        self._state = parked.state
        self._send_at = parked.state.send_at
        self._data = dict(parked.data)
        self._rendered = parked.rendered
        self._render_started = parked.render_started
        self._read = parked.read
        self._dispatched = True
        self._parking = True

    # -- signals and query: the contract for the API, the dashboard and the temporal CLI --

    @workflow.signal
    def retry(self) -> None:
        # Only a parked notification can be retried; a stray signal at another time is ignored.
        if self._parked():
            self._action = "retry"

    @workflow.signal
    def discard(self) -> None:
        if self._parked():
            self._action = "discard"

    def _parked(self) -> bool:
        return self._parking or (self._state is not None and self._state.status == Status.DEAD_LETTERED)

    @workflow.signal
    def cancel(self) -> None:
        self._cancel_requested = True

    @workflow.signal
    def read(self) -> None:
        """The user read the in-app message (the inbox's read endpoints send it): no escalation is needed."""
        self._read = True

    @workflow.query
    def status(self) -> NotificationState:
        assert self._state is not None
        return self._state

    # Updates: each answers with the new state. None adds a command to the history unless it is used, so
    # histories from before they existed replay unchanged.

    @workflow.update
    async def reschedule(self, change: Reschedule) -> NotificationState:
        assert self._state is not None
        self._send_at = self._state.send_at = change.send_at
        self._schedule_changed = True
        return await self._record_update("rescheduled", f"send_at moved to {change.send_at.isoformat()}")

    @reschedule.validator
    def _validate_reschedule(self, change: Reschedule) -> None:
        self._refuse_unless_waiting("reschedule")
        if change.send_at.tzinfo is None:
            raise ApplicationError("send_at must carry a time zone", type="InvalidArgument")

    @workflow.update
    async def send_now(self) -> NotificationState:
        assert self._state is not None
        self._send_at = self._state.send_at = workflow.now()
        self._schedule_changed = True
        return await self._record_update("send_now", "sent now instead of at its scheduled time")

    @send_now.validator
    def _validate_send_now(self) -> None:
        self._refuse_unless_waiting("send now")

    @workflow.update
    async def edit_data(self, edit: DataEdit) -> NotificationState:
        assert self._state is not None
        self._data = dict(edit.data)
        return await self._record_update("edited", "data replaced before rendering", data=self._data)

    @edit_data.validator
    def _validate_edit_data(self, edit: DataEdit) -> None:
        self._refuse_if_final("edit")
        assert self._state is not None
        if self._render_started:
            raise ApplicationError(f"too late to edit: the message was already rendered (the notification is "
                                   f"{self._state.status})", {"status": self._state.status}, type=TOO_LATE)

    def _refuse_if_final(self, what: str) -> None:
        if self._state is None:
            raise ApplicationError(f"cannot {what} yet: the workflow has not started", type=TOO_LATE)
        if self._cancel_requested or self._state.status in (Status.DELIVERED, Status.CANCELED, Status.DISCARDED,
                                                            Status.SKIPPED):
            status = Status.CANCELED.value if self._cancel_requested else self._state.status
            raise ApplicationError(f"too late to {what}: the notification is {status}", {"status": status},
                                   type=TOO_LATE)

    def _refuse_unless_waiting(self, what: str) -> None:
        self._refuse_if_final(what)
        assert self._state is not None
        if self._dispatched:
            raise ApplicationError(f"too late to {what}: the notification is no longer waiting for its send "
                                   f"time (it is {self._state.status})", {"status": self._state.status},
                                   type=TOO_LATE)

    async def _record_update(self, event: str, detail: str, data: dict[str, Any] | None = None) -> NotificationState:
        """Records an accepted change; the main path waits for it before its next status change."""
        assert self._state is not None
        self._updates_running += 1
        try:
            await workflow.wait_condition(lambda: self._started)  # an update in the first task comes before run
            await self._record(event, detail, data=data)
        finally:
            self._updates_running -= 1
        assert self._state is not None
        return self._state

    # -- the life of one notification --

    @workflow.run
    async def run(self, inp: NotificationInput) -> NotificationState:
        if inp.steps >= STEPS_FUSED:
            # Started since the input carries its steps: the input, recorded in the history's first event,
            # says which path this run takes, so no patch marker is needed. Each `workflow.patched` costs a
            # marker and an upsert of Temporal's TemporalChangeVersion search attribute: two history events and
            # about 1 ms of server CPU per workflow (docs/architecture.md). Workers must run this code before an
            # API starts such inputs (an older worker ignores the field and writes the markers, which this
            # branch would not expect on replay): deploy workers first, as for any new input field.
            self._fused = self._local_steps = True
        else:
            # Asked first, and alone for workflows started before that: fused steps are local steps by
            # construction. Histories from before FUSED_STEPS_PATCH have no marker for it, and go on to ask
            # about LOCAL_STEPS_PATCH as they always did.
            self._fused = workflow.patched(FUSED_STEPS_PATCH)
            self._local_steps = self._fused or workflow.patched(LOCAL_STEPS_PATCH)
        self._started = True
        try:
            await self._live(inp)
        except asyncio.CancelledError:
            # `temporal workflow cancel`: record why, then end the execution as canceled in Temporal too.
            await self._finish(Status.CANCELED, "canceled", "the workflow was canceled")
            raise
        if not workflow.all_handlers_finished() and workflow.patched(HANDLERS_PATCH):
            await workflow.wait_condition(workflow.all_handlers_finished)
        assert self._state is not None
        return self._state

    async def _live(self, inp: NotificationInput) -> None:
        assert self._state is not None
        if inp.parked is not None:
            # Continued as new from a parked run: this run starts parked (and is too young to continue again).
            if await self._wait_parked(inp, inp.parked.until, may_continue=False):
                await self._round_loop(inp, self._rendered)
            return
        if self._send_at is not None and self._send_at > workflow.now():
            self._state.status = Status.SCHEDULED
            workflow.upsert_search_attributes([STATUS_KEY.value_set(Status.SCHEDULED.value)])
            await self._wait_for_send_at()
        self._dispatched = True
        if self._cancel_requested:
            await self._cancel(inp, "canceled before sending")
            return
        await self._round_loop(inp, None)

    async def _round_loop(self, inp: NotificationInput, rendered: RenderedMessage | None) -> None:
        """Checks, renders and delivers, round after round, until the notification ends or its parking does."""
        assert self._state is not None
        while True:
            verdict, error = await self._gate(inp, fused=self._fused and rendered is None)
            if verdict == "done":
                return
            if error is not None:
                if not await self._park(inp, error):
                    return
                continue
            await self._after_updates()
            if self._prepared is not None:  # `prepare` rendered it and recorded `processing`
                rendered, self._prepared = self._prepared, None
                self._state.status = Status.PROCESSING
                self._status_unpublished = True
            else:
                await self._transition(Status.PROCESSING, "processing", "delivery started")
            outcome = asyncio.ensure_future(self._attempt_round(inp, rendered))
            await workflow.wait_condition(lambda o=outcome: o.done() or self._cancel_requested)  # type: ignore[misc]
            if not outcome.done():
                # Stop pending retries, but let an attempt already running report how it ended: a send that
                # went through is shown as delivered, never hidden behind "canceled".
                for handle in self._in_flight:
                    handle.cancel()
            rendered, failure = await outcome
            self._rendered = rendered
            if all(d.status in _SENT_OR_SKIPPED for d in self._state.deliveries):
                await self._delivered()
                await self._escalate(inp)
                return
            if self._cancel_requested:
                await self._cancel(inp, "canceled during delivery")
                return
            assert failure is not None
            if not await self._park(inp, failure):
                return

    async def _wait_for_send_at(self) -> None:
        """The durable timer until `send_at`, started again whenever `reschedule` or `send_now` moves it.

        Unchanged, this is the single timer of workflows from before the updates existed.
        """
        while self._send_at is not None and self._send_at > workflow.now():
            self._schedule_changed = False
            try:
                await workflow.wait_condition(lambda: self._cancel_requested or self._schedule_changed,
                                              timeout=self._send_at - workflow.now())
            except TimeoutError:
                pass
            if self._cancel_requested or not self._schedule_changed:
                break
        self._dispatched = True
        await self._after_updates()

    async def _after_updates(self) -> None:
        """Lets accepted updates finish recording, so the read model's timeline keeps the workflow's order."""
        if self._updates_running:
            await workflow.wait_condition(lambda: self._updates_running == 0)

    async def _escalate(self, inp: NotificationInput) -> None:
        """After an in_app delivery: wait for its read; if it is still unread, deliver on the escalation's channels.

        The notification stays `delivered` (it was); the escalation shows in its timeline and deliveries.
        """
        assert self._state is not None
        esc = inp.escalate
        in_app = [d for d in self._state.deliveries if d.channel == "in_app" and d.status == Status.DELIVERED]
        if esc is None or not in_app or not (inp.steps >= STEPS_FUSED or workflow.patched(ESCALATION_PATCH)):
            return
        try:
            await workflow.wait_condition(lambda: self._read or self._cancel_requested,
                                          timeout=timedelta(seconds=esc.after_s))
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            await self._record("escalation_canceled", "the workflow was canceled while waiting for the read")
            return
        if self._cancel_requested:
            await self._record("escalation_canceled", "canceled while waiting for the read")
            return
        # A read without the signal (an outage, the dashboard's inbox) is in the store: it decides.
        if self._read or await self._step(RecordActivities.is_read, inp.notification_id):
            await self._record("read", "read in time: no escalation")
            return
        channels = [c for c in esc.to if c not in self._state.channels]
        added = [DeliveryState(channel=c) for c in channels]
        self._state.deliveries.extend(added)
        await self._record("escalating", f"unread after {int(esc.after_s)} s: delivering on {', '.join(channels)}")
        try:
            rendered: RenderedMessage = await self._step(
                RenderActivities.render,
                RenderInput(notification_id=inp.notification_id, template=inp.template,
                            template_version=inp.template_version, data=self._data, channels=channels,
                            user_id=inp.user_id, to=inp.to),
                non_retryable=[TEMPLATE_ERROR, NOT_FOUND])
        except FailureError as err:
            for d in added:
                d.status, d.last_error = Status.DEAD_LETTERED, _error_message(err)
            await self._record("escalation_failed", _error_message(err))
            return
        errors = [e for e in await asyncio.gather(*(self._deliver(inp, rendered, d) for d in added)) if e]
        self._sum_attempts()
        if errors:
            await self._record("escalation_failed", errors[0])
        else:
            await self._record("escalated", f"delivered on {', '.join(channels)}")

    async def _gate(self, inp: NotificationInput, fused: bool = False) -> tuple[str, str | None]:
        """The user's preferences and quiet hours, read when the notification is due.

        Returns ("go", None) to send, ("done", None) when it ended here (skipped or canceled), or
        ("error", message) when the check itself failed permanently (the user was deleted). `fused`: check with
        `prepare`, which also renders and records `processing` when everything may go now (see `_prepare`).
        """
        assert self._state is not None
        if inp.user_id is None and not fused:
            return "go", None
        while True:
            try:
                if fused:
                    prepared = await self._prepare(inp)
                    if prepared.rendered is not None:
                        self._prepared = prepared.rendered
                        for d in self._state.deliveries:
                            if d.status == Status.SKIPPED:  # opted back in while waiting
                                d.status = Status.ACCEPTED
                        return "go", None
                    assert prepared.decision is not None and inp.user_id is not None
                    decision = prepared.decision
                else:
                    assert inp.user_id is not None
                    decision = await self._step(AudienceActivities.check_audience, self._audience_input(inp),
                                                non_retryable=[NOT_FOUND])
            except FailureError as err:
                message = _error_message(err)
                for d in self._state.deliveries:
                    if d.status not in _SENT_OR_SKIPPED:
                        d.status, d.last_error = Status.DEAD_LETTERED, message
                return "error", message
            for d in self._state.deliveries:
                if d.status == Status.DELIVERED:
                    continue
                if d.channel in decision.skipped_channels:
                    d.status = Status.SKIPPED
                elif d.status == Status.SKIPPED:  # opted back in while waiting
                    d.status = Status.ACCEPTED
            if decision.skip_reason is not None:
                await self._finish(Status.SKIPPED, "skipped", decision.skip_reason)
                return "done", None
            if decision.quiet_until is not None and decision.quiet_until > workflow.now():
                self._state.send_at = decision.quiet_until
                if decision.hold_reason is not None:
                    await self._transition(Status.SCHEDULED, "throttled", decision.hold_reason)
                else:
                    await self._transition(Status.SCHEDULED, "quiet_hours", "held by the user's quiet hours until "
                                           f"{decision.quiet_until.isoformat()}")
                if await self._wait_unless_canceled(decision.quiet_until - workflow.now()):
                    await self._finish(Status.CANCELED, "canceled", "canceled during quiet hours")
                    return "done", None
                continue  # preferences may have changed during the wait: decide again
            if decision.skipped_channels:
                await self._record("channels_skipped", "; ".join(decision.skipped_channels.values()))
            return "go", None

    def _audience_input(self, inp: NotificationInput) -> AudienceInput:
        assert inp.user_id is not None
        return AudienceInput(notification_id=inp.notification_id, user_id=inp.user_id, channels=inp.channels,
                             category=inp.category, priority=inp.priority, now=workflow.now(), to=inp.to,
                             throttle=inp.throttle)

    async def _prepare(self, inp: NotificationInput) -> PrepareResult:
        """Audience check, render and the `processing` record in one local activity; it renders and records
        only when everything may go now, else it returns the decision for the step-by-step path."""
        assert self._state is not None
        await self._after_updates()  # an accepted edit is recorded before `processing`, as the timeline reads
        processing = self._change("processing", "delivery started")
        processing.status = Status.PROCESSING
        for d in processing.deliveries:
            if d.status == Status.SKIPPED:
                d.status = Status.ACCEPTED
        self._render_started = True
        try:
            result: PrepareResult = await self._step(
                PrepareActivities.prepare,
                PrepareInput(render=RenderInput(notification_id=inp.notification_id, template=inp.template,
                                                template_version=inp.template_version, data=self._data,
                                                channels=inp.channels, user_id=inp.user_id, to=inp.to),
                             processing=processing,
                             audience=self._audience_input(inp) if inp.user_id is not None else None),
                non_retryable=[TEMPLATE_ERROR, NOT_FOUND])
        except FailureError:
            self._render_started = False  # nothing was rendered: the data may still be corrected
            raise
        if result.rendered is None:
            self._render_started = False
        return result

    async def _attempt_round(self, inp: NotificationInput,
                             rendered: RenderedMessage | None) -> tuple[RenderedMessage | None, str | None]:
        """Renders (once) and delivers every channel not yet delivered; returns (rendered, first error)."""
        assert self._state is not None
        if rendered is None:
            self._render_started = True
            try:
                rendered = await self._step(
                    RenderActivities.render,
                    RenderInput(notification_id=inp.notification_id, template=inp.template,
                                template_version=inp.template_version, data=self._data, channels=inp.channels,
                                user_id=inp.user_id, to=inp.to),
                    non_retryable=[TEMPLATE_ERROR, NOT_FOUND],
                )
            except FailureError as err:
                self._render_started = False  # nothing was rendered: the data may still be corrected
                message = _error_message(err)
                for d in self._state.deliveries:
                    if d.status not in _SENT_OR_SKIPPED:
                        d.status, d.last_error = Status.DEAD_LETTERED, message
                return None, message
        if self._cancel_requested:
            return rendered, None
        pending = [d for d in self._state.deliveries if d.status not in _SENT_OR_SKIPPED]
        errors = await asyncio.gather(*(self._deliver(inp, rendered, d) for d in pending))
        failed = [e for e in errors if e is not None]
        return rendered, failed[0] if failed else None

    async def _deliver(self, inp: NotificationInput, rendered: RenderedMessage,
                       delivery: DeliveryState) -> str | None:
        """Tries the channel's providers in failover order; each gets its full retry policy."""
        chain_length = max(1, inp.provider_chains.get(delivery.channel, 1))
        for index in range(chain_length):
            error = await self._deliver_with(inp, rendered, delivery, index)
            if error is None or delivery.status == Status.CANCELED or index == chain_length - 1:
                return error
            await self._record("failover", f"{delivery.channel}: provider #{index + 1} gave up ({error}); "
                                           f"trying provider #{index + 2}")
        return None  # unreachable: the loop always returns on its last provider

    async def _deliver_with(self, inp: NotificationInput, rendered: RenderedMessage, delivery: DeliveryState,
                            provider_index: int) -> str | None:
        assert self._state is not None
        retry = inp.retry
        prior = delivery.attempts
        args = DeliverInput(notification_id=inp.notification_id, channel=delivery.channel,
                            address=rendered.addresses[delivery.channel], subject=rendered.subject,
                            body=rendered.body, user_id=inp.user_id, prior_attempts=prior,
                            max_attempts=retry.max_attempts, html=rendered.html, provider_index=provider_index)
        timeout = timedelta(seconds=retry.delivery_timeout_s)
        if inp.queued_channels is not None and delivery.channel not in inp.queued_channels:
            others_done = all(d.status in _SENT_OR_SKIPPED for d in self._state.deliveries if d is not delivery)
            if self._fused and others_done and inp.escalate is None and not self._cancel_requested:
                # The last send of the notification writes its `delivered` record too: one step less.
                finish = self._change("delivered", "all channels delivered")
                finish.status, finish.last_error = Status.DELIVERED, None
                args = replace(args, finish=finish)
            try:
                local = await self._deliver_locally(args, retry, timeout)
            except FailureError as err:
                return self._delivery_failed(delivery, err, prior + retry.max_attempts)
            if local is None:
                return self._delivery_canceled(delivery, prior)
            result = local
        else:
            policy = RetryPolicy(
                initial_interval=timedelta(seconds=retry.initial_s), backoff_coefficient=retry.backoff,
                maximum_interval=timedelta(seconds=retry.max_s), maximum_attempts=retry.max_attempts,
                non_retryable_error_types=[PERMANENT_DELIVERY],
            )
            self._publish_status()  # the workflow task ends while the queued delivery runs
            handle = workflow.start_activity_method(
                DeliveryActivities.deliver, args,
                task_queue=delivery_task_queue(workflow.info().task_queue, delivery.channel),
                start_to_close_timeout=timeout, retry_policy=policy,
                # On cancel, wait for the server to confirm: a running attempt finishes and reports its result.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
            self._in_flight.append(handle)
            try:
                result = await handle
            except FailureError as err:
                if isinstance(_failure_of(err), CancelledError):
                    return self._delivery_canceled(delivery, prior)
                return self._delivery_failed(delivery, err, prior + retry.max_attempts)
            finally:
                self._in_flight.remove(handle)
        delivery.attempts = result.attempt
        delivery.status, delivery.last_error = Status.DELIVERED, None
        delivery.provider, delivery.provider_message_id = result.provider, result.provider_message_id
        self._sum_attempts()
        return None

    async def _deliver_locally(self, args: DeliverInput, retry: RetryConfig,
                               attempt_timeout: timedelta) -> DeliverResult | None:
        """A delivery as local activities, one per attempt, with the backoff on durable workflow timers.

        The workflow runs the retries itself so that a cancel stops them between attempts but never interrupts
        an attempt under way: that attempt's outcome counts. Returns None when a cancel stopped the retries;
        raises the last attempt's failure when they ran out or the provider refused permanently.
        """
        delay = retry.initial_s
        for attempt in range(1, retry.max_attempts + 1):
            now = workflow.now()
            # The final record, if this send writes it, carries the time of the attempt that delivered.
            finish = replace(args.finish, at=now, delivered_at=now) if args.finish is not None else None
            try:
                result: DeliverResult = await workflow.execute_local_activity_method(
                    DeliveryActivities.deliver, replace(args, attempt_in_round=attempt, finish=finish),
                    start_to_close_timeout=attempt_timeout, retry_policy=RetryPolicy(maximum_attempts=1))
                if finish is not None:
                    self._delivered_recorded_at = now
                return result
            except FailureError as err:
                failure = _failure_of(err)
                if (isinstance(failure, ApplicationError) and failure.non_retryable) or attempt == retry.max_attempts:
                    raise
                if self._cancel_requested:
                    return None
                asked = failure.next_retry_delay if isinstance(failure, ApplicationError) else None
                wait = asked if asked is not None else timedelta(seconds=delay)
                delay = min(delay * retry.backoff, retry.max_s)
                self._publish_status()  # the backoff ends the workflow task
            if await self._wait_unless_canceled(wait):
                return None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _delivery_canceled(self, delivery: DeliveryState, prior: int) -> str:
        delivery.status, delivery.last_error = Status.CANCELED, None
        delivery.attempts = max(delivery.attempts, prior)
        return "canceled"

    def _delivery_failed(self, delivery: DeliveryState, err: BaseException, fallback_attempts: int) -> str:
        delivery.attempts = _attempt_of(err, fallback_attempts)
        delivery.status, delivery.last_error = Status.DEAD_LETTERED, _error_message(err)
        self._sum_attempts()
        return delivery.last_error

    async def _park(self, inp: NotificationInput, error: str) -> bool:
        """The compensating dead-letter step, then a durable wait for a human. True means: try again."""
        assert self._state is not None
        patched = workflow.patched(PARKING_PATCH)
        if patched:
            # From here on a retry or discard counts, however long the records below take.
            self._action = None
            self._parking = True
        self._state.last_error = error
        now = workflow.now()
        for d in self._state.deliveries:
            if d.status == Status.DEAD_LETTERED:
                await self._step(
                    RecordActivities.dead_letter,
                    DeadLetter(notification_id=inp.notification_id, channel=d.channel,
                               error=d.last_error or error, attempts=d.attempts, at=now),
                )
        await self._transition(Status.DEAD_LETTERED, "dead_lettered", error)
        if not patched:
            self._action = None
        # The retention counts from here, also in the runs this one may continue as new into.
        return await self._wait_parked(inp, workflow.now() + timedelta(seconds=inp.retry.dlq_retention_s),
                                       may_continue=patched)

    async def _wait_parked(self, inp: NotificationInput, until: datetime, may_continue: bool) -> bool:
        """The durable wait for a human until `until`, the end of the retention. True means: try again."""
        assert self._state is not None
        if may_continue and self._should_continue_as_new(inp):
            # Handlers first: an update still recording would be cut off, and its caller left without an answer.
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._action is None and not self._cancel_requested:
                parked = Parked(state=self._state, data=self._data, until=until, rendered=self._rendered,
                                render_started=self._render_started, read=self._read)
                workflow.continue_as_new(replace(inp, parked=parked))
        try:
            await workflow.wait_condition(lambda: self._action is not None or self._cancel_requested,
                                          timeout=max(until - workflow.now(), timedelta(0)))
        except TimeoutError:
            await self._resolve(inp, "expired")
            await self._record("expired", "dead-letter retention ended; the workflow closed")
            return False
        if self._cancel_requested:
            await self._resolve(inp, "canceled")
            await self._finish(Status.CANCELED, "canceled", "canceled while dead-lettered")
            return False
        action, self._action = self._action, None
        self._parking = False
        if action == "discard":
            await self._resolve(inp, "discarded")
            await self._finish(Status.DISCARDED, "discarded", "discarded from the dead-letter queue")
            return False
        await self._resolve(inp, "retried")
        for d in self._state.deliveries:
            if d.status == Status.DEAD_LETTERED:
                d.status = Status.PROCESSING
        return True

    def _should_continue_as_new(self, inp: NotificationInput) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= inp.history_limit

    async def _delivered(self) -> None:
        assert self._state is not None
        recorded_at = self._delivered_recorded_at  # by the last send itself (FUSED_STEPS_PATCH)
        self._state.delivered_at = recorded_at or workflow.now()
        self._state.last_error = None
        detail = "all channels delivered" + (
            " (the cancel request came after the send)" if self._cancel_requested else "")
        await self._finish(Status.DELIVERED, "delivered", detail, record=recorded_at is None)

    async def _cancel(self, inp: NotificationInput, detail: str) -> None:
        """Ends as canceled, unless the sends had gone through after all.

        A local delivery's result is lost when its workflow task fails (a signal arriving while it ran is
        enough), while its send is not: the receipts in PostgreSQL are the truth.
        """
        assert self._state is not None
        if self._local_steps:
            receipts: dict[str, DeliverResult] = await self._step(RecordActivities.find_receipts,
                                                                  inp.notification_id)
            for d in self._state.deliveries:
                if d.status not in _SENT_OR_SKIPPED and d.channel in receipts:
                    receipt = receipts[d.channel]
                    d.status, d.last_error, d.attempts = Status.DELIVERED, None, receipt.attempt
                    d.provider, d.provider_message_id = receipt.provider, receipt.provider_message_id
            self._sum_attempts()
            if all(d.status in _SENT_OR_SKIPPED for d in self._state.deliveries):
                await self._delivered()
                return
        await self._finish(Status.CANCELED, "canceled", detail)

    async def _wait_unless_canceled(self, delay: timedelta) -> bool:
        """A durable timer (it survives worker and server restarts) that a cancel ends early; True if it did."""
        try:
            await workflow.wait_condition(lambda: self._cancel_requested, timeout=delay)
        except TimeoutError:
            pass
        return self._cancel_requested

    # -- bookkeeping --

    async def _step(self, fn: Callable[..., Any], arg: Any, non_retryable: Sequence[str] = ()) -> Any:
        """One short PostgreSQL-only step: a local activity, or a regular one for pre-patch histories.

        Retried until PostgreSQL answers, unless it fails with one of the `non_retryable` error types.
        """
        policy = replace(_STORE_RETRY, non_retryable_error_types=list(non_retryable)) if non_retryable \
            else _STORE_RETRY
        if self._local_steps:
            return await workflow.execute_local_activity_method(fn, arg, start_to_close_timeout=_STORE_TIMEOUT,
                                                                retry_policy=policy)
        return await workflow.execute_activity_method(fn, arg, start_to_close_timeout=_STORE_TIMEOUT,
                                                      retry_policy=policy)

    def _sum_attempts(self) -> None:
        assert self._state is not None
        self._state.attempts = sum(d.attempts for d in self._state.deliveries)

    async def _resolve(self, inp: NotificationInput, resolution: str) -> None:
        await self._step(
            RecordActivities.resolve_dead_letter,
            DeadLetterResolution(notification_id=inp.notification_id, resolution=resolution, at=workflow.now()),
        )

    async def _transition(self, status: Status, event: str, detail: str, record: bool = True) -> None:
        assert self._state is not None
        self._state.status = status
        self._status_unpublished = True
        self._publish_status()
        if record:
            await self._record(event, detail)

    def _publish_status(self) -> None:
        """Brings the NotificationStatus search attribute up to the state, if it lags (FUSED_STEPS_PATCH)."""
        assert self._state is not None
        if self._status_unpublished:
            workflow.upsert_search_attributes([STATUS_KEY.value_set(str(self._state.status))])
            self._status_unpublished = False

    async def _finish(self, status: Status, event: str, detail: str, record: bool = True) -> None:
        assert self._state is not None
        for d in self._state.deliveries:
            if d.status not in _SENT_OR_SKIPPED:
                d.status = status
        await self._transition(status, event, detail, record)

    def _change(self, event: str, detail: str, data: dict[str, Any] | None = None) -> StatusChange:
        assert self._state is not None
        s = self._state
        return StatusChange(notification_id=s.id, status=s.status, event=event, at=workflow.now(),
                            detail=detail, last_error=s.last_error, send_at=s.send_at,
                            delivered_at=s.delivered_at, deliveries=[replace(d) for d in s.deliveries], data=data)

    async def _record(self, event: str, detail: str, data: dict[str, Any] | None = None) -> None:
        change = self._change(event, detail, data)
        # Shielded: a workflow cancellation must not stop the record of that very cancellation.
        await asyncio.shield(asyncio.ensure_future(self._step(RecordActivities.record_status, change)))
