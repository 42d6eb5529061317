"""Status webhooks: subscriptions to notifications' status changes, and the dead letters of their events.

Retries and discards of parked events are signals to the StatusWebhookWorkflow that holds them; Temporal
being down is a 503 (`temporal_unavailable`), and nothing is lost: the caller repeats.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.errors import Problem, invalid, not_found
from core.settings import Settings
from providers.base import PermanentDeliveryError
from providers.egress import Allowlist, vet
from store import webhooks
from store.webhooks import DeadLetter, Subscription

# How long a registration waits for the URL's host to resolve.
RESOLVE_TIMEOUT_S = 5.0


async def check_url(url: str, settings: Settings) -> None:
    """The egress rules of delivery, applied at registration too: a URL that could never be sent to is refused
    now (the check runs again at every post, as DNS answers change)."""
    try:
        await asyncio.wait_for(vet(url, Allowlist.parse(settings.webhook_allowed_hosts)), RESOLVE_TIMEOUT_S)
    except PermanentDeliveryError as exc:
        raise invalid("url", exc.message.removeprefix("webhook: ")) from exc
    except TimeoutError as exc:
        raise invalid("url", f"its host did not resolve within {RESOLVE_TIMEOUT_S:g} s") from exc


async def create(pool: asyncpg.Pool, settings: Settings, url: str, events: list[str],
                 description: str | None) -> Subscription:
    await check_url(url, settings)
    return await webhooks.create(pool, url, events, description)


async def get(pool: asyncpg.Pool, webhook_id: str) -> Subscription:
    found = await webhooks.get(pool, webhook_id)
    if found is None:
        raise not_found("webhook", webhook_id)
    return found


async def list_page(pool: asyncpg.Pool, after: str | None, limit: int) -> list[Subscription]:
    return await webhooks.list_subscriptions(pool, after, limit)


async def delete(pool: asyncpg.Pool, temporal: Client, webhook_id: str) -> None:
    """No new event is written for it from now on; queued ones are dropped unsent and parked ones discarded.

    A repeat finishes the discards a first call could not signal (Temporal away: 503); then it is 404."""
    deleted = await webhooks.delete(pool, webhook_id)
    parked = await webhooks.open_dead_letter_workflows(pool, webhook_id, None)
    if not deleted and not parked:
        raise not_found("webhook", webhook_id)
    for letter in parked:
        await _signal(temporal, letter.workflow_id, "discard", letter.event_id)


async def dead_letters(pool: asyncpg.Pool, webhook_id: str, after: int | None, limit: int) -> list[DeadLetter]:
    """The open dead letters of a webhook `get` found, in event order."""
    return await webhooks.open_dead_letters(pool, webhook_id, after, limit)


async def retry(pool: asyncpg.Pool, temporal: Client, webhook_id: str, event_ids: list[int] | None) -> int:
    """Posts the given parked events again (all of this webhook's when `event_ids` is None); how many were."""
    await get(pool, webhook_id)
    retried = 0
    for letter in await webhooks.open_dead_letter_workflows(pool, webhook_id, event_ids):
        retried += await _signal(temporal, letter.workflow_id, "retry", letter.event_id)
    return retried


async def discard(pool: asyncpg.Pool, temporal: Client, webhook_id: str, event_id: int) -> None:
    """Gives the parked event up; the events behind it go on."""
    await get(pool, webhook_id)
    letter = await webhooks.open_dead_letter(pool, webhook_id, event_id)
    if letter is None:
        raise not_found("dead letter", str(event_id))
    if not await _signal(temporal, letter.workflow_id, "discard", event_id):
        raise Problem(409, "workflow_closed", "the dead-letter retention of this event has ended")


async def _signal(client: Client, workflow_id: str, name: str, *args: Any) -> bool:
    """Sends a signal; False when the workflow no longer runs (closed after its retention)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(name, args=list(args))
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return False
        # Temporal not answering: an RPC error, or the lazy client's first connection failing.
        if not (isinstance(exc, RPCError) or str(exc).startswith("Failed client connect")):
            raise
        raise Problem(503, "temporal_unavailable", f"could not signal the workflow: {exc}",
                      headers={"Retry-After": "5"}) from exc
    return True
