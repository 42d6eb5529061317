"""The dead-letter queue: parked deliveries, and the retry / discard signals that resolve them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from api.deps import AdminDep, PageDep, PoolDep, ReadDep, TemporalDep
from api.schemas import DeadLetterPublic, DlqRetryPublic, DlqRetryRequest, Page
from core.models import Channel
from services import dead_letters

router = APIRouter(prefix="/v1/dlq", tags=["dead-letter queue"])


@router.get("", response_model=Page[DeadLetterPublic])
async def list_dead_letters(pool: PoolDep, page: PageDep, _: ReadDep,
                            channel: Channel | None = None) -> dict[str, Any]:
    after = page.decode(int)
    rows = await dead_letters.page(pool, channel=channel, after=after[0] if after else None, limit=page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r.cursor_id])
    return {"items": [asdict(r) for r in rows], "next_cursor": next_cursor}


@router.post("/retry", status_code=202, response_model=DlqRetryPublic)
async def retry_dead_letters(pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                             body: DlqRetryRequest | None = None) -> DlqRetryPublic:
    return DlqRetryPublic(retried=await dead_letters.retry(pool, temporal, body.ids if body else None))


@router.post("/{notification_id}/discard", status_code=202)
async def discard_dead_letter(notification_id: str, pool: PoolDep, temporal: TemporalDep,
                              _: AdminDep) -> dict[str, str]:
    await dead_letters.discard(pool, temporal, notification_id)
    return {"notification_id": notification_id, "status": "discarding"}
