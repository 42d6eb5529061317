"""API keys: created with scopes (the key is shown once), listed, revoked. Admin only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminDep, PageDep, PoolDep
from api.errors import not_found
from api.schemas import KeyCreate, KeyCreated, KeyPublic, Page
from store import keys

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, pool: PoolDep, _: AdminDep) -> dict[str, Any]:
    return await keys.issue(pool, body.name, list(body.scopes), body.rate_per_s, body.burst)


@router.get("", response_model=Page[KeyPublic])
async def list_keys(pool: PoolDep, page: PageDep, _: AdminDep) -> dict[str, Any]:
    after = page.decode(str)
    rows = await keys.list_keys(pool, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r["id"]])
    return {"items": rows, "next_cursor": next_cursor}


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, pool: PoolDep, _: AdminDep) -> Response:
    if not await keys.revoke(pool, key_id):
        raise not_found("key", key_id)
    return Response(status_code=204)
