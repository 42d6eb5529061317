"""Suppressions: addresses Herald never sends to. A delivery to one ends `skipped` (reason `suppressed`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep
from api.schemas import Page, SuppressionCreate, SuppressionPublic
from services import suppressions

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])


@router.get("", response_model=Page[SuppressionPublic])
async def list_suppressions(pool: PoolDep, page: PageDep, _: ReadDep, channel: str | None = None,
                            address: str | None = None) -> dict[str, Any]:
    after = page.decode(datetime, str, str)
    rows, next_cursor = page.cut(
        await suppressions.list_page(pool, channel=channel, address=address,
                                     after=(after[0], after[1], after[2]) if after else None, limit=page.fetch),
        lambda r: [r.created_at.isoformat(), r.channel, r.address])
    return {"items": [SuppressionPublic(**asdict(r)) for r in rows], "next_cursor": next_cursor}


@router.post("", status_code=201, response_model=SuppressionPublic)
async def add_suppression(body: SuppressionCreate, pool: PoolDep, _: AdminDep) -> SuppressionPublic:
    added = await suppressions.add(pool, channel=body.channel, address=body.address, reason=body.reason,
                                   source="api")
    return SuppressionPublic(**asdict(added))


@router.delete("/{channel}/{address}", status_code=204)
async def remove_suppression(channel: str, address: str, pool: PoolDep, _: AdminDep) -> Response:
    await suppressions.remove(pool, channel, address)
    return Response(status_code=204)
