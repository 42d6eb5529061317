"""Status webhooks: subscriptions to notifications' status changes, and the dead letters of their events."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep, SettingsDep, TemporalDep
from api.errors import ApiError, invalid, not_found
from api.schemas import (
    DlqRetryPublic,
    Page,
    WebhookCreate,
    WebhookDeadLetterPublic,
    WebhookPublic,
    WebhookRetryRequest,
)
from core.settings import Settings
from providers.base import PermanentDeliveryError
from providers.egress import Allowlist, vet
from services import starting as dispatch
from store import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["status webhooks"])

EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# How long a registration waits for the URL's host to resolve.
RESOLVE_TIMEOUT_S = 5.0


async def _check_url(url: str, settings: Settings) -> None:
    """The egress rules of delivery, applied at registration too: a URL that could never be sent to is refused
    now (the check runs again at every post, as DNS answers change)."""
    try:
        await asyncio.wait_for(vet(url, Allowlist.parse(settings.webhook_allowed_hosts)), RESOLVE_TIMEOUT_S)
    except PermanentDeliveryError as exc:
        raise invalid("url", exc.message.removeprefix("webhook: ")) from exc
    except TimeoutError as exc:
        raise invalid("url", f"its host did not resolve within {RESOLVE_TIMEOUT_S:g} s") from exc


async def _subscription(pool: PoolDep, webhook_id: str) -> dict[str, Any]:
    row = await webhooks.get(pool, webhook_id)
    if row is None:
        raise not_found("webhook", webhook_id)
    return row


@router.post("", status_code=201, response_model=WebhookPublic)
async def create_webhook(body: WebhookCreate, pool: PoolDep, settings: SettingsDep, _: AdminDep) -> dict[str, Any]:
    url = str(body.url)
    await _check_url(url, settings)
    return await webhooks.create(pool, url, list(body.events), body.description)


@router.get("", response_model=Page[WebhookPublic])
async def list_webhooks(pool: PoolDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    after = page.decode(str)
    rows = await webhooks.list_subscriptions(pool, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r["id"]])
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/{webhook_id}", response_model=WebhookPublic)
async def get_webhook(webhook_id: str, pool: PoolDep, _: ReadDep) -> dict[str, Any]:
    return await _subscription(pool, webhook_id)


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> Response:
    """No new event is written for it from now on; queued ones are dropped unsent and parked ones discarded.

    A repeat finishes the discards a first call could not signal (Temporal away: 503); then it is 404."""
    deleted = await webhooks.delete(pool, webhook_id)
    parked = await webhooks.open_dead_letter_workflows(pool, webhook_id, None)
    if not deleted and not parked:
        raise not_found("webhook", webhook_id)
    for row in parked:
        await dispatch.signal(temporal, row["workflow_id"], "discard", row["event_id"])
    return Response(status_code=204)


@router.get("/{webhook_id}/dead-letters", response_model=Page[WebhookDeadLetterPublic])
async def list_webhook_dead_letters(webhook_id: str, pool: PoolDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    await _subscription(pool, webhook_id)
    after = page.decode(int)
    rows = await webhooks.open_dead_letters(pool, webhook_id, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r["event_id"]])
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/{webhook_id}/dead-letters/retry", status_code=202, response_model=DlqRetryPublic)
async def retry_webhook_dead_letters(webhook_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                                     body: WebhookRetryRequest | None = None) -> DlqRetryPublic:
    """Posts the given parked events again (all of this webhook's when `ids` is absent)."""
    await _subscription(pool, webhook_id)
    retried = 0
    for row in await webhooks.open_dead_letter_workflows(pool, webhook_id, body.ids if body else None):
        retried += await dispatch.signal(temporal, row["workflow_id"], "retry", row["event_id"])
    return DlqRetryPublic(retried=retried)


@router.post("/{webhook_id}/dead-letters/{event_id}/discard", status_code=202)
async def discard_webhook_dead_letter(webhook_id: str, event_id: EventId, pool: PoolDep, temporal: TemporalDep,
                                      _: AdminDep) -> dict[str, Any]:
    """Gives the parked event up; the events behind it go on."""
    await _subscription(pool, webhook_id)
    row = await webhooks.open_dead_letter(pool, webhook_id, event_id)
    if row is None:
        raise not_found("dead letter", str(event_id))
    if not await dispatch.signal(temporal, row["workflow_id"], "discard", event_id):
        raise ApiError(409, "workflow_closed", "the dead-letter retention of this event has ended")
    return {"event_id": event_id, "status": "discarding"}
