"""Deliver: one provider call per attempt, at most one successful send per delivery.

Every attempt, once it holds the delivery's lease, looks for its receipt: a delivery a provider already
accepted is never sent again, whether by a retry, a redrive or another worker. The receipt is written the
moment the provider answers; the narrow window between that answer and the write is covered by the stable
idempotency key the provider receives (`OutgoingMessage.delivery_key`).

One attempt at a time, each one bounded. An attempt must end before its activity's start-to-close timeout, when
Temporal may start the next one: its provider call has a hard deadline, ATTEMPT_SHARE of that timeout counted
from the moment the attempt began, and a timeout ends the attempt as a transient failure. A deadline cannot
stop a worker that stalls (a pause, a partition) and resumes later, so an attempt also holds the delivery's
lease in PostgreSQL while it sends (store/leases.py); the lease lasts until LEASE_SHARE of the timeout, past
the attempt's deadline (it covers the whole send) and before the timeout (a retry after a dead worker's attempt
finds it expired). An attempt that finds the lease held sends nothing and fails transiently.

Each attempt picks its provider from the channel's chain as this worker holds it now, less the providers that
gave up on the delivery in earlier rounds; its failure says how many untried others are left, which is what
the workflow fails over by (workflows/notification/delivery.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.errors import ADDRESS_GONE, PERMANENT_DELIVERY, SUPPRESSED, TRANSIENT_DELIVERY
from core.models import DeliverInput, DeliverResult, Status
from providers.base import (
    AddressGone,
    OutgoingMessage,
    PermanentDeliveryError,
    Provider,
    ProviderReceipt,
    TransientDeliveryError,
)
from services import feedback, suppressions
from store import integrations, leases, notifications

log = logging.getLogger("herald.deliver")

# A provider's Retry-After is honoured up to this; a longer one is a misconfiguration, not advice.
MAX_RETRY_AFTER = timedelta(hours=1)
# Of the activity's start-to-close timeout: when the provider call must have ended, and when the lease expires.
# The gap between the two covers writing the outcome; the rest of the timeout, a lease taken a little late.
ATTEMPT_SHARE = 0.8
LEASE_SHARE = 0.9
# Of the time left in an attempt: how long it may wait for its integration's rate-limited slot.
PACE_SHARE = 0.5
# Used when the activity runs without a start-to-close timeout (never by the workflows; a guard for tests).
DEFAULT_TIMEOUT = timedelta(seconds=30)


class DeliveryActivities:
    def __init__(self, pool: asyncpg.Pool, chains: Mapping[str, Sequence[Provider]],
                 rates: Mapping[str, float] | None = None):
        """`rates`: sends per second allowed through a provider, by its name, across all workers."""
        self._pool = pool
        self._chains = chains
        self._rates = rates if rates is not None else {}

    @activity.defn(name="deliver")
    async def deliver(self, inp: DeliverInput) -> DeliverResult:
        started = time.monotonic()
        timeout = (activity.info().start_to_close_timeout or DEFAULT_TIMEOUT).total_seconds()
        in_round = inp.attempt_in_round or activity.info().attempt
        attempt = inp.prior_attempts + in_round
        holder = uuid.uuid4().hex
        candidates = _candidates(self._chains.get(inp.channel, []), inp)
        stage = candidates[0].name if candidates else None
        held = await leases.acquire(self._pool, notification_id=inp.notification_id, channel=inp.channel,
                                    holder=holder, ttl_s=timeout * LEASE_SHARE)
        if held is not None:
            error = "another attempt of this delivery is still in flight"
            await self._log(inp, attempt, "failed", error, in_round < inp.max_attempts)
            raise ApplicationError(error, self._details(inp, attempt, stage), type=TRANSIENT_DELIVERY,
                                   next_retry_delay=timedelta(seconds=held))
        try:
            # Read under the lease: an attempt that sent before it was taken left its receipt.
            receipt = await notifications.get_receipt(self._pool, inp.notification_id, inp.channel)
            # Checked at every attempt, whatever the priority: an address suppressed during the retries is not
            # sent to either. A message that went out before keeps its receipt and stays delivered.
            suppression = None if receipt is not None else await suppressions.suppressed(
                self._pool, inp.channel, inp.address)
        except BaseException:
            await asyncio.shield(self._release(inp, holder))
            raise
        if suppression is not None:
            await self._release(inp, holder)
            reason = f"suppressed: the {inp.channel} address is on the suppression list ({suppression.reason})"
            _log_event(inp, attempt, "-", "suppressed", reason)
            raise ApplicationError(reason, {"attempt": inp.prior_attempts, "suppressed": suppression.reason},
                                   type=SUPPRESSED, non_retryable=True)
        if receipt is not None:
            await self._release(inp, holder)
            done = DeliverResult(provider=receipt.provider, provider_message_id=receipt.provider_message_id,
                                 attempt=receipt.attempt, delivered_at=receipt.at)
            if inp.finish is not None:  # the send went through, its final record may not have
                await self._record_delivered(inp, done)
            return done
        if not candidates:
            await self._release(inp, holder)
            error = (f"no active integration left for channel '{inp.channel}' to fail over to"
                     if inp.provider_index else f"no active integration for channel '{inp.channel}'")
            await self._log(inp, attempt, "failed", error, False)
            raise ApplicationError(error, self._details(inp, attempt, stage), type=PERMANENT_DELIVERY,
                                   non_retryable=True)
        try:
            provider, wait = await self._paced(candidates,
                                               (started + timeout * ATTEMPT_SHARE - time.monotonic()) * PACE_SHARE)
        except _RateLimited as exc:
            await self._release(inp, holder)
            await self._log(inp, attempt, "failed", exc.message, in_round < inp.max_attempts, exc.provider)
            raise ApplicationError(exc.message, self._details(inp, attempt, stage, exc.provider),
                                   type=TRANSIENT_DELIVERY, next_retry_delay=timedelta(seconds=exc.wait_s)) from None
        except BaseException:
            await asyncio.shield(self._release(inp, holder))
            raise
        message = OutgoingMessage(notification_id=inp.notification_id, channel=inp.channel,
                                  address=inp.address, subject=inp.subject, body=inp.body,
                                  user_id=inp.user_id, attempt=attempt, html=inp.html)
        try:
            if wait > 0:
                await asyncio.sleep(wait)  # the integration's slot, reserved for this attempt
            sent = await _send_through_cancel(provider, message, started + timeout * ATTEMPT_SHARE - time.monotonic())
        except PermanentDeliveryError as exc:
            await self._release(inp, holder)
            details = self._details(inp, attempt, stage, provider.name)
            # An address that is only not this vendor's may be the next one's (an APNs token sent to FCM): while
            # the channel has another provider, it fails over as for any permanent error.
            if isinstance(exc, AddressGone) and not (exc.maybe_foreign and details["others_left"]):
                await self._gone(inp, attempt, provider.name, started, exc)
                raise ApplicationError(exc.message, {**details, "reason": exc.reason}, type=ADDRESS_GONE,
                                       non_retryable=True) from exc
            metrics.delivery(inp.channel, provider.name, "rejected", time.monotonic() - started)
            _log_event(inp, attempt, provider.name, "rejected", exc.message)
            await self._log(inp, attempt, "rejected", exc.message, False, provider.name)
            raise ApplicationError(exc.message, details, type=PERMANENT_DELIVERY, non_retryable=True) from exc
        except TransientDeliveryError as exc:
            await self._release(inp, holder)
            metrics.delivery(inp.channel, provider.name, "failed", time.monotonic() - started)
            _log_event(inp, attempt, provider.name, "failed", exc.message)
            await self._log(inp, attempt, "failed", exc.message, in_round < inp.max_attempts, provider.name)
            delay = (min(timedelta(seconds=exc.retry_after_s), MAX_RETRY_AFTER)
                     if exc.retry_after_s is not None else None)
            raise ApplicationError(exc.message, self._details(inp, attempt, stage, provider.name),
                                   type=TRANSIENT_DELIVERY, next_retry_delay=delay) from exc
        except BaseException:
            # Cancelled (timed out, the worker shutting down) or broken: the send has stopped, the lease can go.
            await asyncio.shield(self._release(inp, holder))
            raise
        metrics.delivery(inp.channel, sent.provider, "delivered", time.monotonic() - started)
        _log_event(inp, attempt, sent.provider, "delivered", None)
        await notifications.save_receipt(self._pool, notification_id=inp.notification_id, channel=inp.channel,
                                         provider=sent.provider, provider_message_id=sent.provider_message_id,
                                         attempt=attempt, lease_holder=holder)
        done = DeliverResult(provider=sent.provider, provider_message_id=sent.provider_message_id,
                             attempt=attempt, delivered_at=datetime.now(UTC))
        await self._record_delivered(inp, done)
        return done

    async def _release(self, inp: DeliverInput, holder: str) -> None:
        """Ends this attempt's lease; if that fails, the lease expires by itself."""
        try:
            await leases.release(self._pool, notification_id=inp.notification_id, channel=inp.channel,
                                 holder=holder)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("delivery lease left to expire", extra={
                "notification_id": inp.notification_id, "channel": inp.channel, "error": type(exc).__name__})

    async def _record_delivered(self, inp: DeliverInput, done: DeliverResult) -> None:
        """The attempt log, and the notification's final record when the workflow handed it over."""
        finish = None
        if inp.finish is not None:
            # Times stay the workflow's: its clock is the durable one (and the one a time-skipping test moves).
            finish = replace(inp.finish, deliveries=[
                replace(d, status=Status.DELIVERED, attempts=done.attempt, provider=done.provider,
                        provider_message_id=done.provider_message_id, last_error=None)
                if d.channel == inp.channel else d for d in inp.finish.deliveries])
        async with self._pool.acquire() as conn:
            await notifications.record_delivered(conn, notification_id=inp.notification_id, channel=inp.channel,
                                                 attempt=done.attempt, finish=finish)

    async def _gone(self, inp: DeliverInput, attempt: int, provider: str, started: float, exc: AddressGone) -> None:
        """The provider says the address is gone for good: the attempt's log, then the delivery's bounce (its
        timeline and status webhook events) and the address suppressed on its channel (the provider as its
        source), so that no later send calls a provider for it. The workflow ends the delivery `bounced` too."""
        metrics.delivery(inp.channel, provider, "gone", time.monotonic() - started)
        _log_event(inp, attempt, provider, "gone", exc.message)
        await self._log(inp, attempt, "gone", exc.message, False, provider)
        await feedback.gone_at_send(self._pool, notification_id=inp.notification_id, channel=inp.channel,
                                    address=inp.address, provider=provider, reason=exc.reason, error=exc.message)

    async def _log(self, inp: DeliverInput, attempt: int, outcome: str, error: str | None,
                   will_retry: bool, provider: str | None = None) -> None:
        async with self._pool.acquire() as conn:
            await notifications.record_attempt(conn, notification_id=inp.notification_id,
                                               channel=inp.channel, attempt=attempt, outcome=outcome,
                                               error=error, will_retry=will_retry, provider=provider)

    def _details(self, inp: DeliverInput, attempt: int, stage: str | None,
                 provider: str | None = None) -> dict[str, object]:
        """What a failed attempt reports: its number, the provider it used, and where the delivery stands in
        its channel's chain: the provider this round is on (`stage`), and how many untried others the channel
        has at the moment of the failure. The workflow fails over only while one is left."""
        now = _candidates(self._chains.get(inp.channel, []), inp)
        details: dict[str, object] = {"attempt": attempt, "stage_provider": stage,
                                      "others_left": sum(1 for p in now if p.name != stage)}
        if provider is not None:
            details["provider"] = provider
        return details

    async def _paced(self, candidates: Sequence[Provider], budget_s: float) -> tuple[Provider, float]:
        """The provider this attempt sends through, and how long to wait for its slot first.

        The first candidate, unless its rate is used up: then the first one after it with a free slot now (a
        rate-limited integration spills over to the next); with none free, a slot of the first one's within
        `budget_s`, or else a transient failure that retries when a slot may be free.
        """
        for candidate in candidates:
            rate = self._rates.get(candidate.name)
            if rate is None or await integrations.take_slot(self._pool, candidate.name, rate, 0.0) is not None:
                return candidate, 0.0
        first = candidates[0]
        rate = self._rates[first.name]
        wait = await integrations.take_slot(self._pool, first.name, rate, max(budget_s, 0.0))
        if wait is None:
            raise _RateLimited(first.name, max(budget_s, 1.0 / rate))
        return first, wait


def _candidates(chain: Sequence[Provider], inp: DeliverInput) -> list[Provider]:
    """The providers this attempt may use, in failover order: the channel's chain as this worker holds it now
    (an integration deleted or deactivated since accept is not in it, one added is), less the providers that
    gave up on this delivery in earlier rounds: by name, and by position for rounds the workflow could not name
    (an attempt that timed out; inputs from before names were passed)."""
    left = [p for p in chain if p.name not in inp.tried_providers]
    return left[max(inp.provider_index - len(inp.tried_providers), 0):]


class _RateLimited(Exception):
    def __init__(self, provider: str, wait_s: float):
        self.provider = provider
        self.wait_s = wait_s
        self.message = f"{provider}: its rate limit has no slot free within this attempt"
        super().__init__(self.message)


def _log_event(inp: DeliverInput, attempt: int, provider: str, outcome: str, error: str | None) -> None:
    level = logging.INFO if outcome == "delivered" else logging.WARNING
    log.log(level, "delivery %s", outcome, extra={
        "notification_id": inp.notification_id, "workflow_id": activity.info().workflow_id, "channel": inp.channel,
        "attempt": attempt, "provider": provider, "outcome": outcome, "error": error})


async def _send_within(provider: Provider, message: OutgoingMessage, seconds: float) -> ProviderReceipt:
    """The provider call under its hard deadline: when it passes, the call is cancelled (its connection closed)
    and the attempt is a transient failure."""
    if seconds <= 0:
        raise TransientDeliveryError(f"{provider.name}: no time left in this attempt to send")
    try:
        async with asyncio.timeout(seconds):
            return await provider.send(message)
    except TimeoutError:
        raise TransientDeliveryError(f"{provider.name}: no answer within the attempt's {seconds:.1f} s") from None


async def _send_through_cancel(provider: Provider, message: OutgoingMessage, seconds: float) -> ProviderReceipt:
    """A workflow's cancel that arrives while the provider call runs lets it finish (within its deadline): a send
    that went through is reported as delivered, never hidden behind "canceled" (local deliveries are cancelled
    in-process; regular ones never see the cancel, as they do not heartbeat). Any other cancel (the activity
    timed out, the worker shuts down) stops the call: the next attempt must not find this one still sending."""
    send = asyncio.ensure_future(_send_within(provider, message, seconds))
    try:
        return await asyncio.shield(send)
    except asyncio.CancelledError:
        details = activity.cancellation_details()
        if details is not None and details.cancel_requested and not (details.timed_out or details.worker_shutdown):
            return await send
        send.cancel()
        raise
