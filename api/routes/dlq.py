"""The dead-letter queue: parked deliveries, and the retry / discard signals that resolve them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api import dispatch
from api.deps import AdminDep, PageDep, PoolDep, ReadDep, TemporalDep
from api.errors import ApiError, not_found
from api.schemas import DeadLetterPublic, DlqRetryPublic, DlqRetryRequest, Page
from core.models import Channel, Status
from store import notifications

router = APIRouter(prefix="/v1/dlq", tags=["dead-letter queue"])


@router.get("", response_model=Page[DeadLetterPublic])
async def list_dead_letters(pool: PoolDep, page: PageDep, _: ReadDep,
                            channel: Channel | None = None) -> dict[str, Any]:
    after = page.decode(1)
    rows = await notifications.list_dead_letters(pool, channel=channel, after=int(str(after[0])) if after else None,
                                                 limit=page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r["cursor_id"]])
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/retry", status_code=202, response_model=DlqRetryPublic)
async def retry_dead_letters(pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                             body: DlqRetryRequest | None = None) -> DlqRetryPublic:
    ids = await notifications.open_dead_letter_ids(pool, body.ids if body else None)
    retried = 0
    for notification_id in ids:
        if await dispatch.signal(temporal, f"notification-{notification_id}", "retry"):
            retried += 1
    return DlqRetryPublic(retried=retried)


@router.post("/{notification_id}/discard", status_code=202)
async def discard_dead_letter(notification_id: str, pool: PoolDep, temporal: TemporalDep,
                              _: AdminDep) -> dict[str, str]:
    row = await notifications.get(pool, notification_id)
    if row is None:
        raise not_found("notification", notification_id)
    if row["status"] != Status.DEAD_LETTERED:
        raise ApiError(409, "not_dead_lettered",
                       f"only a dead-lettered notification can be discarded; this one is {row['status']}",
                       {"status": row["status"]})
    if not await dispatch.signal(temporal, row["workflow_id"], "discard"):
        raise ApiError(409, "workflow_closed", "the dead-letter retention of this notification has ended")
    return {"notification_id": notification_id, "status": "discarding"}
