"""API keys: created with scopes (the key is shown once), listed, revoked. Admin only."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

from fastapi import APIRouter, Response

from api.deps import AdminDep, PageDep, PoolDep
from api.schemas import KeyCreate, KeyCreated, KeyPublic, Page
from services import keys

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, pool: PoolDep, _: AdminDep) -> KeyCreated:
    issued = await keys.issue(pool, body.name, list(body.scopes), body.rate_per_s, body.burst)
    return KeyCreated.model_validate({**asdict(issued.record), "key": issued.key})


@router.get("", response_model=Page[KeyPublic])
async def list_keys(pool: PoolDep, page: PageDep, _: AdminDep) -> Page[KeyPublic]:
    rows, next_cursor = await page.by_text_key(partial(keys.list_keys, pool), lambda r: r.id)
    return Page(items=[KeyPublic.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor)


@router.delete("/{key_id}", status_code=204)
async def revoke_key(key_id: str, pool: PoolDep, _: AdminDep) -> Response:
    await keys.revoke(pool, key_id)
    return Response(status_code=204)
