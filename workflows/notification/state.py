"""What one notification's workflow knows, and how it changes: pure data and transitions, no Temporal.

`Notification.state` is the `NotificationState` the `status` query returns; the other fields are the
workflow's own bookkeeping (signals received, how far it has come, the message rendered so far). Every
transition here is a plain method, so `tests/workflows/test_notification_state.py` checks them without a
Temporal server. Times come in as arguments: only the workflow may read its clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from core.models import (
    AudienceDecision,
    DeliverResult,
    DeliveryState,
    NotificationInput,
    NotificationState,
    Parked,
    RenderedMessage,
    RenderInput,
    Status,
    StatusChange,
)
from core.workflow_ids import notification_workflow_id

# A delivery in one of these went out, or the user's preferences or the suppression list kept it back.
SENT_OR_SKIPPED = frozenset({Status.DELIVERED, Status.SKIPPED})
# A delivery in one of these needs nothing more: as above, or it bounced (its provider said the address is gone).
ENDED = SENT_OR_SKIPPED | {Status.BOUNCED}
# How the deliver activity's refusal of a suppressed address begins (activities/deliver.py).
SUPPRESSED_PREFIX = "suppressed:"
# Once a notification is in one of these (or a cancel was asked), no in-flight change applies any more.
_UNCHANGEABLE = (Status.DELIVERED, Status.CANCELED, Status.DISCARDED, Status.SKIPPED, Status.UNDELIVERED)


@dataclass(frozen=True)
class Refusal:
    """Why an in-flight change comes too late: the message for the caller and the status it met."""

    message: str
    status: str


@dataclass
class Notification:
    state: NotificationState
    data: dict[str, Any]  # the data in force: the input's, or the last accepted `edit_data`
    action: str | None = None  # "retry" | "discard", asked by a human while parked
    cancel_requested: bool = False
    read: bool = False  # the user read the in-app message
    dispatched: bool = False  # past the wait for send_at: too late to reschedule
    schedule_changed: bool = False  # a reschedule or send_now ends the current wait for send_at
    render_started: bool = False  # too late to edit the data
    parking: bool = False  # from the decision to park until the parked wait ends (PARKING_PATCH)
    updates_running: int = 0  # accepted updates still recording their change
    status_unpublished: bool = False  # the status search attribute lags the state (FUSED_STEPS_PATCH)
    rendered: RenderedMessage | None = None  # the message of the last round, kept for continue_as_new
    prepared: RenderedMessage | None = None  # rendered by `prepare`, for the round about to start
    delivered_recorded_at: datetime | None = None  # the last send wrote the final record itself

    @classmethod
    def of(cls, inp: NotificationInput) -> Notification:
        """The notification as accepted or, for a run continued as new from a parked one, as it was parked."""
        if inp.parked is not None:
            parked = inp.parked
            return cls(state=parked.state, data=dict(parked.data), rendered=parked.rendered,
                       render_started=parked.render_started, read=parked.read, dispatched=True, parking=True)
        state = NotificationState(
            id=inp.notification_id, workflow_id=notification_workflow_id(inp.notification_id),
            status=Status.ACCEPTED, user_id=inp.user_id, channels=list(inp.channels), priority=inp.priority,
            category=inp.category, template=inp.template, template_version=inp.template_version,
            send_at=inp.send_at, deliveries=[DeliveryState(channel=c) for c in inp.channels],
        )
        return cls(state=state, data=dict(inp.data))

    # -- signals and in-flight changes --

    @property
    def parked(self) -> bool:
        """A retry or discard counts now."""
        return self.parking or self.state.status == Status.DEAD_LETTERED

    def ask(self, action: str) -> None:
        """A human's retry or discard: only a parked notification takes one, a stray one is ignored."""
        if self.parked:
            self.action = action

    def unpark(self) -> str | None:
        """The parked wait ends: the action asked, if any, is taken."""
        action, self.action = self.action, None
        self.parking = False
        return action

    def refusal_if_final(self, what: str) -> Refusal | None:
        if self.cancel_requested or self.state.status in _UNCHANGEABLE:
            status = Status.CANCELED.value if self.cancel_requested else self.state.status
            return Refusal(f"too late to {what}: the notification is {status}", status)
        return None

    def refusal_unless_waiting(self, what: str) -> Refusal | None:
        """`reschedule` and `send_now` apply only while the notification waits for its send_at."""
        refusal = self.refusal_if_final(what)
        if refusal is None and self.dispatched:
            return Refusal(f"too late to {what}: the notification is no longer waiting for its send time "
                           f"(it is {self.state.status})", self.state.status)
        return refusal

    def refusal_of_edit(self) -> Refusal | None:
        """`edit_data` applies until a render has started (a failed render gives the chance back)."""
        refusal = self.refusal_if_final("edit")
        if refusal is None and self.render_started:
            return Refusal(f"too late to edit: the message was already rendered (the notification is "
                           f"{self.state.status})", self.state.status)
        return refusal

    def move_send_at(self, send_at: datetime) -> None:
        self.state.send_at = send_at
        self.schedule_changed = True

    def replace_data(self, data: dict[str, Any]) -> None:
        self.data = dict(data)

    # -- status --

    def set_status(self, status: Status) -> None:
        self.state.status = status
        self.status_unpublished = True

    def take_unpublished_status(self) -> str | None:
        """The status the search attribute must be brought up to, once; None when it shows it already."""
        if not self.status_unpublished:
            return None
        self.status_unpublished = False
        return self.state.status

    def mark_delivered(self, now: datetime) -> str:
        """Every channel went out; returns the timeline's detail for it."""
        self.state.delivered_at = self.delivered_recorded_at or now
        self.state.last_error = None
        suppressed = [d.channel for d in self.state.deliveries
                      if d.status == Status.SKIPPED and (d.last_error or "").startswith(SUPPRESSED_PREFIX)]
        gone = [d.channel for d in self.state.deliveries if d.status == Status.BOUNCED]
        return "all channels delivered" + (
            " (the cancel request came after the send)" if self.cancel_requested else "") + (
            f"; skipped as suppressed: {', '.join(suppressed)}" if suppressed else "") + (
            f"; bounced, the address gone: {', '.join(gone)}" if gone else "")

    # -- deliveries --

    @property
    def all_ended(self) -> bool:
        return all(d.status in ENDED for d in self.state.deliveries)

    def unsent(self) -> list[DeliveryState]:
        """The deliveries still to make: not sent, skipped or bounced."""
        return [d for d in self.state.deliveries if d.status not in ENDED]

    def others_sent_or_skipped(self, delivery: DeliveryState) -> bool:
        return all(d.status in SENT_OR_SKIPPED for d in self.state.deliveries if d is not delivery)

    def end_unsent(self, status: Status) -> None:
        """The notification ends as `status`: so does every delivery that had not gone out."""
        for d in self.unsent():
            d.status = status

    def dead_letter_unsent(self, error: str) -> None:
        """A step failed for good: every delivery that had not gone out is dead-lettered with its error."""
        for d in self.unsent():
            d.status, d.last_error = Status.DEAD_LETTERED, error

    def retry_dead_letters(self) -> None:
        """A retry redelivers only the channels that failed."""
        for d in self.state.deliveries:
            if d.status == Status.DEAD_LETTERED:
                d.status = Status.PROCESSING

    def apply_decision(self, decision: AudienceDecision) -> None:
        """The user's preferences, read when the notification is due, skip channels or take them back."""
        for d in self.state.deliveries:
            if d.status in (Status.DELIVERED, Status.BOUNCED):
                continue
            if d.channel in decision.skipped_channels:
                d.status = Status.SKIPPED
            elif d.status == Status.SKIPPED:  # opted back in while waiting
                d.status = Status.ACCEPTED

    def reopen_skipped(self) -> None:
        """Everything may go now: a channel skipped by an earlier check was opted back in while waiting."""
        _reopen(self.state.deliveries)

    def add_channels(self, channels: list[str]) -> list[DeliveryState]:
        """An escalation's channels join the deliveries."""
        added = [DeliveryState(channel=c) for c in channels]
        self.state.deliveries.extend(added)
        return added

    def sent(self, delivery: DeliveryState, result: DeliverResult) -> None:
        delivery.attempts = result.attempt
        delivery.status, delivery.last_error = Status.DELIVERED, None
        delivery.provider, delivery.provider_message_id = result.provider, result.provider_message_id
        self.sum_attempts()

    def suppressed(self, delivery: DeliveryState, reason: str) -> None:
        """Its address is on the suppression list: skipped, nothing sent, the reason kept as its error."""
        delivery.status, delivery.last_error = Status.SKIPPED, reason

    def bounced(self, delivery: DeliveryState, attempts: int, reason: str) -> None:
        """Its provider said the address is gone for good (and it is suppressed now): final, the reason kept."""
        delivery.attempts = attempts
        delivery.status, delivery.last_error = Status.BOUNCED, reason
        self.sum_attempts()

    def undelivery(self) -> str | None:
        """Why nothing went out, when no delivery did and at least one bounced (the notification is then
        undelivered); else None."""
        if any(d.status == Status.DELIVERED for d in self.state.deliveries):
            return None
        reasons = [f"{d.channel} bounced: {d.last_error}" for d in self.state.deliveries
                   if d.status == Status.BOUNCED]
        return "; ".join(reasons) or None

    def suppression(self) -> str | None:
        """Why nothing went out, when no delivery did because their addresses are suppressed; else None."""
        if any(d.status == Status.DELIVERED for d in self.state.deliveries):
            return None
        reasons = [d.last_error for d in self.state.deliveries
                   if d.status == Status.SKIPPED and d.last_error and d.last_error.startswith(SUPPRESSED_PREFIX)]
        return "; ".join(reasons) or None

    def failed(self, delivery: DeliveryState, attempts: int, error: str) -> str:
        delivery.attempts = attempts
        delivery.status, delivery.last_error = Status.DEAD_LETTERED, error
        self.sum_attempts()
        return error

    def canceled(self, delivery: DeliveryState, prior_attempts: int) -> str:
        delivery.status, delivery.last_error = Status.CANCELED, None
        delivery.attempts = max(delivery.attempts, prior_attempts)
        return "canceled"

    def apply_receipts(self, receipts: dict[str, DeliverResult]) -> None:
        """Sends that went through in a workflow task whose results were lost: the store's receipts decide."""
        for d in self.state.deliveries:
            if d.status not in ENDED and d.channel in receipts:
                receipt = receipts[d.channel]
                d.status, d.last_error, d.attempts = Status.DELIVERED, None, receipt.attempt
                d.provider, d.provider_message_id = receipt.provider, receipt.provider_message_id
        self.sum_attempts()

    def sum_attempts(self) -> None:
        self.state.attempts = sum(d.attempts for d in self.state.deliveries)

    # -- what the steps get --

    def change(self, event: str, detail: str, at: datetime, data: dict[str, Any] | None = None) -> StatusChange:
        """The read model's record of the state now, with its timeline event."""
        s = self.state
        return StatusChange(notification_id=s.id, status=s.status, event=event, at=at, detail=detail,
                            last_error=s.last_error, send_at=s.send_at, delivered_at=s.delivered_at,
                            deliveries=[replace(d) for d in s.deliveries], data=data)

    def processing_change(self, at: datetime) -> StatusChange:
        """The `processing` record `prepare` writes when everything may go now."""
        processing = self.change("processing", "delivery started", at)
        processing.status = Status.PROCESSING
        _reopen(processing.deliveries)
        return processing

    def delivered_change(self, at: datetime) -> StatusChange:
        """The `delivered` record the notification's last send writes itself (its outcome filled in there)."""
        finish = self.change("delivered", "all channels delivered", at)
        finish.status, finish.last_error = Status.DELIVERED, None
        return finish

    def render_input(self, inp: NotificationInput, channels: list[str]) -> RenderInput:
        return RenderInput(notification_id=inp.notification_id, template=inp.template,
                           template_version=inp.template_version, data=self.data, channels=channels,
                           user_id=inp.user_id, to=inp.to)

    def parked_until(self, until: datetime) -> Parked:
        """All a parked run carries into the run it continues as new as."""
        return Parked(state=self.state, data=self.data, until=until, rendered=self.rendered,
                      render_started=self.render_started, read=self.read)


def _reopen(deliveries: list[DeliveryState]) -> None:
    for d in deliveries:
        if d.status == Status.SKIPPED:
            d.status = Status.ACCEPTED
