"""Status webhooks: subscriptions to notifications' status changes, and the dead letters of their events."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep, SettingsDep, TemporalDep
from api.schemas import (
    DlqRetryPublic,
    Page,
    WebhookCreate,
    WebhookDeadLetterPublic,
    WebhookPublic,
    WebhookRetryRequest,
)
from services import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["status webhooks"])

EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("", status_code=201, response_model=WebhookPublic)
async def create_webhook(body: WebhookCreate, pool: PoolDep, settings: SettingsDep, _: AdminDep) -> WebhookPublic:
    created = await webhooks.create(pool, settings, str(body.url), list(body.events), body.description)
    return WebhookPublic(**asdict(created))


@router.get("", response_model=Page[WebhookPublic])
async def list_webhooks(pool: PoolDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    rows, next_cursor = await page.by_text_key(partial(webhooks.list_page, pool), lambda r: r.id)
    return {"items": [WebhookPublic(**asdict(r)) for r in rows], "next_cursor": next_cursor}


@router.get("/{webhook_id}", response_model=WebhookPublic)
async def get_webhook(webhook_id: str, pool: PoolDep, _: ReadDep) -> WebhookPublic:
    return WebhookPublic(**asdict(await webhooks.get(pool, webhook_id)))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> Response:
    """No new event is written for it from now on; queued ones are dropped unsent and parked ones discarded.

    A repeat finishes the discards a first call could not signal (Temporal away: 503); then it is 404."""
    await webhooks.delete(pool, temporal, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/dead-letters", response_model=Page[WebhookDeadLetterPublic])
async def list_webhook_dead_letters(webhook_id: str, pool: PoolDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    await webhooks.get(pool, webhook_id)
    after = page.decode(int)
    rows, next_cursor = page.cut(
        await webhooks.dead_letters(pool, webhook_id, after[0] if after else None, page.fetch),
        lambda r: [r.event_id])
    return {"items": [WebhookDeadLetterPublic(**asdict(r)) for r in rows], "next_cursor": next_cursor}


@router.post("/{webhook_id}/dead-letters/retry", status_code=202, response_model=DlqRetryPublic)
async def retry_webhook_dead_letters(webhook_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                                     body: WebhookRetryRequest | None = None) -> DlqRetryPublic:
    """Posts the given parked events again (all of this webhook's when `ids` is absent)."""
    return DlqRetryPublic(retried=await webhooks.retry(pool, temporal, webhook_id, body.ids if body else None))


@router.post("/{webhook_id}/dead-letters/{event_id}/discard", status_code=202)
async def discard_webhook_dead_letter(webhook_id: str, event_id: EventId, pool: PoolDep, temporal: TemporalDep,
                                      _: AdminDep) -> dict[str, Any]:
    """Gives the parked event up; the events behind it go on."""
    await webhooks.discard(pool, temporal, webhook_id, event_id)
    return {"event_id": event_id, "status": "discarding"}
