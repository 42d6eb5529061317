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
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.errors import PERMANENT_DELIVERY, SUPPRESSED, TRANSIENT_DELIVERY
from core.models import DeliverInput, DeliverResult, Status
from providers.base import (
    OutgoingMessage,
    PermanentDeliveryError,
    Provider,
    ProviderReceipt,
    TransientDeliveryError,
)
from services import suppressions
from store import leases, notifications

log = logging.getLogger("herald.deliver")

# A provider's Retry-After is honoured up to this; a longer one is a misconfiguration, not advice.
MAX_RETRY_AFTER = timedelta(hours=1)
# Of the activity's start-to-close timeout: when the provider call must have ended, and when the lease expires.
# The gap between the two covers writing the outcome; the rest of the timeout, a lease taken a little late.
ATTEMPT_SHARE = 0.8
LEASE_SHARE = 0.9
# Used when the activity runs without a start-to-close timeout (never by the workflows; a guard for tests).
DEFAULT_TIMEOUT = timedelta(seconds=30)


class DeliveryActivities:
    def __init__(self, pool: asyncpg.Pool, chains: dict[str, list[Provider]]):
        self._pool = pool
        self._chains = chains

    @activity.defn(name="deliver")
    async def deliver(self, inp: DeliverInput) -> DeliverResult:
        started = time.monotonic()
        timeout = (activity.info().start_to_close_timeout or DEFAULT_TIMEOUT).total_seconds()
        in_round = inp.attempt_in_round or activity.info().attempt
        attempt = inp.prior_attempts + in_round
        holder = uuid.uuid4().hex
        held = await leases.acquire(self._pool, notification_id=inp.notification_id, channel=inp.channel,
                                    holder=holder, ttl_s=timeout * LEASE_SHARE)
        if held is not None:
            error = "another attempt of this delivery is still in flight"
            await self._log(inp, attempt, "failed", error, in_round < inp.max_attempts)
            raise ApplicationError(error, {"attempt": attempt}, type=TRANSIENT_DELIVERY,
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
        chain = self._chains.get(inp.channel, [])
        if inp.provider_index >= len(chain):
            await self._release(inp, holder)
            error = f"no provider #{inp.provider_index + 1} for channel '{inp.channel}' on this worker"
            await self._log(inp, attempt, "failed", error, False)
            raise ApplicationError(error, {"attempt": attempt}, type=PERMANENT_DELIVERY, non_retryable=True)
        provider = chain[inp.provider_index]
        message = OutgoingMessage(notification_id=inp.notification_id, channel=inp.channel,
                                  address=inp.address, subject=inp.subject, body=inp.body,
                                  user_id=inp.user_id, attempt=attempt, html=inp.html)
        try:
            sent = await _send_through_cancel(provider, message, started + timeout * ATTEMPT_SHARE - time.monotonic())
        except PermanentDeliveryError as exc:
            await self._release(inp, holder)
            metrics.delivery(inp.channel, provider.name, "rejected", time.monotonic() - started)
            _log_event(inp, attempt, provider.name, "rejected", exc.message)
            await self._log(inp, attempt, "rejected", exc.message, False)
            raise ApplicationError(exc.message, {"attempt": attempt, "provider": provider.name},
                                   type=PERMANENT_DELIVERY, non_retryable=True) from exc
        except TransientDeliveryError as exc:
            await self._release(inp, holder)
            metrics.delivery(inp.channel, provider.name, "failed", time.monotonic() - started)
            _log_event(inp, attempt, provider.name, "failed", exc.message)
            await self._log(inp, attempt, "failed", exc.message, in_round < inp.max_attempts)
            delay = (min(timedelta(seconds=exc.retry_after_s), MAX_RETRY_AFTER)
                     if exc.retry_after_s is not None else None)
            raise ApplicationError(exc.message, {"attempt": attempt, "provider": provider.name},
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

    async def _log(self, inp: DeliverInput, attempt: int, outcome: str, error: str | None,
                   will_retry: bool) -> None:
        async with self._pool.acquire() as conn:
            await notifications.record_attempt(conn, notification_id=inp.notification_id,
                                               channel=inp.channel, attempt=attempt, outcome=outcome,
                                               error=error, will_retry=will_retry)


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
