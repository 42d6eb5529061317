"""StatusWebhookWorkflow: one subscription's status events for one notification, posted one at a time, in order.

    event signals ─> queue (by outbox id) ─> post (retries with backoff) ─> next event ─> empty: the run ends
                                                 └─ out of attempts / permanent ─> dead letter, parked
    parked ── retry ─> post again │ discard ─> next event │ retention ─> expired, next event

The relay (services/status_relay.py) signals-with-start `event` on `hook-<subscription>-<notification>` for each
outbox row, in id order. A relay that dies between its signal and marking the row sends the signal again:
events are taken once per id, and one an earlier run already posted is skipped by the activity (the outbox row
remembers its outcome). A later event waits behind a parked one, so a subscriber never sees `delivered` after
`read`. A signal that arrives as the run completes makes the server refuse the completion: nothing is lost.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.errors import PERMANENT_DELIVERY
    from activities.status_webhooks import StatusWebhookActivities
    from core.models import (
        StatusEvent,
        StatusPost,
        StatusWebhookInput,
        WebhookDeadLetter,
        WebhookResolution,
    )

_STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30))
_STORE_TIMEOUT = timedelta(seconds=30)
# Events per run before continue_as_new: one notification has a handful, so this is a guard, not a routine.
EVENTS_PER_RUN = 200
# The event counts as parked before its dead letter is written, not after: the row is what the API shows, and
# a retry or discard sent the moment it appears must not be ignored. Asked only on the dead-letter path.
PARK_BEFORE_RECORD_PATCH = "park-before-dead-letter-record"


@workflow.defn(name="StatusWebhookWorkflow")
class StatusWebhookWorkflow:
    @workflow.init
    def __init__(self, inp: StatusWebhookInput) -> None:
        self._queue: list[StatusEvent] = []
        self._seen: set[int] = set(inp.seen)
        for event in inp.pending:
            self._add(event, carried=True)
        self._parked: int | None = None  # the event id waiting in the dead letters
        self._decision: str | None = None

    def _add(self, event: StatusEvent, carried: bool = False) -> None:
        if event.event_id in self._seen and not carried:
            return
        self._seen.add(event.event_id)
        # By outbox id, whatever order the signals came in: the id order is the order the changes committed.
        ids = [e.event_id for e in self._queue]
        self._queue.insert(bisect.bisect(ids, event.event_id), event)

    @workflow.signal
    def event(self, event: StatusEvent) -> None:
        self._add(event)

    @workflow.signal
    def retry(self, event_id: int) -> None:
        if event_id == self._parked:
            self._decision = "retried"

    @workflow.signal
    def discard(self, event_id: int) -> None:
        if event_id == self._parked:
            self._decision = "discarded"

    @workflow.query
    def pending(self) -> list[int]:
        """Event ids not yet posted, the one being posted (or parked) first."""
        return [e.event_id for e in self._queue]

    @workflow.run
    async def run(self, inp: StatusWebhookInput) -> int:
        """Returns how many events this run finished (posted, skipped, discarded or expired)."""
        finished = 0
        while self._queue:
            await self._post(inp, self._queue[0])
            self._queue.pop(0)
            finished += 1
            if self._queue and (finished >= EVENTS_PER_RUN or workflow.info().is_continue_as_new_suggested()):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(StatusWebhookInput(
                    subscription_id=inp.subscription_id, notification_id=inp.notification_id, retry=inp.retry,
                    pending=self._queue, seen=sorted(self._seen)))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return finished

    async def _post(self, inp: StatusWebhookInput, event: StatusEvent) -> None:
        retry = inp.retry
        policy = RetryPolicy(initial_interval=timedelta(seconds=retry.initial_s), backoff_coefficient=retry.backoff,
                             maximum_interval=timedelta(seconds=retry.max_s), maximum_attempts=retry.max_attempts,
                             non_retryable_error_types=[PERMANENT_DELIVERY])
        while True:
            try:
                await workflow.execute_activity_method(
                    StatusWebhookActivities.post_status_event, StatusPost(event_id=event.event_id),
                    start_to_close_timeout=timedelta(seconds=retry.delivery_timeout_s), retry_policy=policy)
                return
            except FailureError as err:
                error = _message(err)
            early = workflow.patched(PARK_BEFORE_RECORD_PATCH)
            if early:
                self._parked, self._decision = event.event_id, None
            await self._step(StatusWebhookActivities.dead_letter,
                             WebhookDeadLetter(event_id=event.event_id, error=error, at=workflow.now()))
            if not early:
                self._parked, self._decision = event.event_id, None
            try:
                await workflow.wait_condition(lambda: self._decision is not None,
                                              timeout=timedelta(seconds=retry.dlq_retention_s))
            except TimeoutError:
                pass  # retention over: the event is given up, and the ones behind it go on
            resolution = self._decision or "expired"
            self._parked = None
            await self._step(StatusWebhookActivities.resolve,
                             WebhookResolution(event_id=event.event_id, resolution=resolution, at=workflow.now()))
            if resolution != "retried":
                return

    async def _step(self, fn: Callable[..., Any], arg: Any) -> None:
        # Bookkeeping talks only to PostgreSQL: retried until it answers.
        await workflow.execute_activity_method(fn, arg, start_to_close_timeout=_STORE_TIMEOUT,
                                               retry_policy=_STORE_RETRY)


def _message(err: FailureError) -> str:
    cause = err.cause if err.cause is not None else err
    return getattr(cause, "message", None) or str(cause)
