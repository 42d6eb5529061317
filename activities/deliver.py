"""Deliver: one provider call per attempt, each attempt written to the attempt log before Temporal sees it."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import PERMANENT_DELIVERY, TRANSIENT_DELIVERY
from core.models import DeliverInput, DeliverResult
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, TransientDeliveryError
from store import notifications


class DeliveryActivities:
    def __init__(self, pool: asyncpg.Pool, providers: dict[str, Provider]):
        self._pool = pool
        self._providers = providers

    @activity.defn(name="deliver")
    async def deliver(self, inp: DeliverInput) -> DeliverResult:
        info = activity.info()
        attempt = inp.prior_attempts + info.attempt
        provider = self._providers.get(inp.channel)
        if provider is None:
            await self._log(inp, attempt, "failed", f"no provider for channel '{inp.channel}'", False)
            raise ApplicationError(f"no provider for channel '{inp.channel}'", {"attempt": attempt},
                                   type=PERMANENT_DELIVERY, non_retryable=True)
        message = OutgoingMessage(notification_id=inp.notification_id, channel=inp.channel,
                                  address=inp.address, subject=inp.subject, body=inp.body,
                                  user_id=inp.user_id, attempt=attempt)
        try:
            receipt = await provider.send(message)
        except PermanentDeliveryError as exc:
            await self._log(inp, attempt, "rejected", exc.message, False)
            raise ApplicationError(exc.message, {"attempt": attempt}, type=PERMANENT_DELIVERY,
                                   non_retryable=True) from exc
        except TransientDeliveryError as exc:
            await self._log(inp, attempt, "failed", exc.message, info.attempt < inp.max_attempts)
            raise ApplicationError(exc.message, {"attempt": attempt}, type=TRANSIENT_DELIVERY) from exc
        await self._log(inp, attempt, "delivered", None, False)
        return DeliverResult(provider=receipt.provider, provider_message_id=receipt.provider_message_id,
                             attempt=attempt, delivered_at=datetime.now(UTC))

    async def _log(self, inp: DeliverInput, attempt: int, outcome: str, error: str | None,
                   will_retry: bool) -> None:
        async with self._pool.acquire() as conn:
            await notifications.record_attempt(conn, notification_id=inp.notification_id,
                                               channel=inp.channel, attempt=attempt, outcome=outcome,
                                               error=error, will_retry=will_retry)
