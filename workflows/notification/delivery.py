"""Delivering: one round over the channels not yet delivered, and one channel through its failover chain.

A channel outside the input's `queued_channels` is delivered by local activities, one per attempt, the
workflow running the retries on durable timers; a queued one by a regular activity on its channel's task
queue, where the server enforces the channel's rate limit, with Temporal running the retries.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError
from temporalio.workflow import ActivityCancellationType, ActivityHandle

with workflow.unsafe.imports_passed_through():
    from activities.deliver import DeliveryActivities
    from activities.errors import ADDRESS_GONE, NOT_FOUND, PERMANENT_DELIVERY, SUPPRESSED, TEMPLATE_ERROR
    from activities.render import RenderActivities
    from core.models import (
        DeliverInput,
        DeliverResult,
        DeliveryState,
        NotificationInput,
        RenderedMessage,
        RetryConfig,
        Status,
        delivery_task_queue,
    )

from workflows.notification import versions
from workflows.notification.state import Notification
from workflows.notification.steps import Steps


def failure_of(err: BaseException) -> BaseException:
    """The failure itself: a regular activity's comes wrapped in an ActivityError, a local one's does not.

    Steps catch FailureError, the common base of both: ActivityError around its cause, or the cause itself
    (ApplicationError, TimeoutError, CancelledError).
    """
    return err.cause if isinstance(err, ActivityError) and err.cause is not None else err


def error_message(err: BaseException) -> str:
    cause = failure_of(err)
    return getattr(cause, "message", None) or str(cause)


def suppressed(err: BaseException) -> bool:
    """The deliver activity refused the send because the address is on the suppression list."""
    cause = failure_of(err)
    return isinstance(cause, ApplicationError) and cause.type == SUPPRESSED


def address_gone(err: BaseException) -> bool:
    """The provider said the address is gone for good, and the deliver activity suppressed it."""
    cause = failure_of(err)
    return isinstance(cause, ApplicationError) and cause.type == ADDRESS_GONE


def reported(err: BaseException) -> dict[str, Any]:
    """What the failing deliver activity reported with its failure; empty when it never got to (a timeout)."""
    cause = failure_of(err)
    detail = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else None
    return detail if isinstance(detail, dict) else {}


def attempt_of(err: BaseException, fallback: int) -> int:
    """The attempt number the failing activity reported, or `fallback` when it never got to report (timeout)."""
    attempt = reported(err).get("attempt")
    return attempt if isinstance(attempt, int) else fallback


@dataclass(frozen=True)
class GaveUp:
    """Where a failed round stood in its channel's chain when it ended: the provider it was on and how many
    untried others the channel had then. None where the failure does not say (an attempt that timed out, or
    one from a version that did not report it)."""

    provider: str | None = None
    others_left: int | None = None

    @classmethod
    def of(cls, err: BaseException) -> GaveUp:
        detail = reported(err)
        provider, left = detail.get("stage_provider"), detail.get("others_left")
        return cls(provider if isinstance(provider, str) else None, left if isinstance(left, int) else None)


class Deliveries:
    def __init__(self, inp: NotificationInput, notification: Notification, steps: Steps) -> None:
        self._inp = inp
        self._n = notification
        self._steps = steps
        self._in_flight: list[ActivityHandle[DeliverResult]] = []

    def cancel_in_flight(self) -> None:
        """Stops pending retries of queued deliveries; an attempt already running reports how it ended."""
        for handle in self._in_flight:
            handle.cancel()

    async def round(self, rendered: RenderedMessage | None) -> tuple[RenderedMessage | None, str | None]:
        """Renders (once) and delivers every channel not yet delivered; returns (rendered, first error)."""
        inp, n = self._inp, self._n
        if rendered is None:
            n.render_started = True
            try:
                rendered = await self._steps.run(
                    RenderActivities.render, n.render_input(inp, inp.channels),
                    non_retryable=[TEMPLATE_ERROR, NOT_FOUND],
                )
            except FailureError as err:
                n.render_started = False  # nothing was rendered: the data may still be corrected
                message = error_message(err)
                n.dead_letter_unsent(message)
                return None, message
        if n.cancel_requested:
            return rendered, None
        errors = await asyncio.gather(*(self.channel(rendered, d) for d in n.unsent()))
        failed = [e for e in errors if e is not None]
        return rendered, failed[0] if failed else None

    async def channel(self, rendered: RenderedMessage, delivery: DeliveryState) -> str | None:
        """Tries the channel's providers in failover order, each with its full retry policy.

        The chain is the channel's as the workers hold it at each attempt, not as it was at accept: a provider
        removed since is not used, one added is, and the delivery fails over while the channel has a provider
        that has not given up yet.
        """
        tried: list[str] = []
        stage = 0
        while True:
            error, gave_up = await self._with_provider(rendered, delivery, stage, tried)
            if error is None or delivery.status == Status.CANCELED or not self._fails_over(delivery, stage, gave_up):
                return error
            name = gave_up.provider or f"provider #{stage + 1}"
            if gave_up.provider is not None:
                tried.append(gave_up.provider)
            stage += 1
            await self._steps.record("failover", f"{delivery.channel}: {name} gave up ({error}); "
                                                 "trying the next active one")

    def _fails_over(self, delivery: DeliveryState, stage: int, gave_up: GaveUp) -> bool:
        """Whether the round after a failed one tries another provider: while the channel has an untried one
        when the round gave up. A failure that does not say (a timeout) falls back to the chain's length at
        accept, which also bounds the rounds. Histories from before FAILOVER_PATCH decided by that length
        alone; where both ways agree, no marker is needed."""
        by_accept = stage < max(1, self._inp.provider_chains.get(delivery.channel, 1)) - 1
        by_now = by_accept if gave_up.others_left is None else gave_up.others_left > 0
        if by_now == by_accept:
            return by_now
        return by_now if versions.fails_over_by_current_chain() else by_accept

    async def _with_provider(self, rendered: RenderedMessage, delivery: DeliveryState, stage: int,
                             tried: list[str]) -> tuple[str | None, GaveUp]:
        """One round through the chain: its error (None when delivered, skipped or bounced), and where it gave
        up."""
        inp, n = self._inp, self._n
        retry = inp.retry
        prior = delivery.attempts
        args = DeliverInput(notification_id=inp.notification_id, channel=delivery.channel,
                            address=rendered.addresses[delivery.channel], subject=rendered.subject,
                            body=rendered.body, user_id=inp.user_id, prior_attempts=prior,
                            max_attempts=retry.max_attempts, html=rendered.html, provider_index=stage,
                            tried_providers=list(tried))
        timeout = timedelta(seconds=retry.delivery_timeout_s)
        if inp.queued_channels is not None and delivery.channel not in inp.queued_channels:
            if (self._steps.path.fused and n.others_sent_or_skipped(delivery) and inp.escalate is None
                    and not n.cancel_requested):
                # The last send of the notification writes its `delivered` record too: one step less.
                args = replace(args, finish=n.delivered_change(workflow.now()))
            try:
                local = await self._locally(args, retry, timeout)
            except FailureError as err:
                return self._failed(delivery, err, prior), GaveUp.of(err)
            if local is None:
                return n.canceled(delivery, prior), GaveUp()
            result = local
        else:
            policy = RetryPolicy(
                initial_interval=timedelta(seconds=retry.initial_s), backoff_coefficient=retry.backoff,
                maximum_interval=timedelta(seconds=retry.max_s), maximum_attempts=retry.max_attempts,
                non_retryable_error_types=[PERMANENT_DELIVERY],
            )
            self._steps.publish_status()  # the workflow task ends while the queued delivery runs
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
                if isinstance(failure_of(err), CancelledError):
                    return n.canceled(delivery, prior), GaveUp()
                return self._failed(delivery, err, prior), GaveUp.of(err)
            finally:
                self._in_flight.remove(handle)
        n.sent(delivery, result)
        return None, GaveUp()

    def _failed(self, delivery: DeliveryState, err: BaseException, prior: int) -> str | None:
        """The delivery's failure, as its error; None when it ended without one: skipped because its address is
        suppressed, or bounced because the provider said the address is gone (nothing to retry or fail over)."""
        if suppressed(err) and versions.skips_suppressed():
            self._n.suppressed(delivery, error_message(err))
            return None
        if address_gone(err) and versions.ends_gone_addresses():
            self._n.bounced(delivery, attempt_of(err, prior + 1), error_message(err))
            return None
        return self._n.failed(delivery, attempt_of(err, prior + self._inp.retry.max_attempts), error_message(err))

    async def _locally(self, args: DeliverInput, retry: RetryConfig,
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
                    self._n.delivered_recorded_at = now
                return result
            except FailureError as err:
                failure = failure_of(err)
                if (isinstance(failure, ApplicationError) and failure.non_retryable) or attempt == retry.max_attempts:
                    raise
                if self._n.cancel_requested:
                    return None
                asked = failure.next_retry_delay if isinstance(failure, ApplicationError) else None
                wait = asked if asked is not None else timedelta(seconds=delay)
                delay = min(delay * retry.backoff, retry.max_s)
                self._steps.publish_status()  # the backoff ends the workflow task
            if await self._steps.wait_unless_canceled(wait):
                return None
        raise AssertionError("unreachable: the last attempt returns or raises")
