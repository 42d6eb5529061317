"""Layouts: the shared frame a template's html and text go into; versioned like templates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep
from api.schemas import MAX_INT4, LayoutCreate, LayoutPublic, LayoutUpdate, Page
from services import layouts

router = APIRouter(prefix="/v1/layouts", tags=["layouts"])


def public(row: layouts.LayoutRecord) -> LayoutPublic:
    return LayoutPublic(name=row.name, version=row.version, latest_version=row.latest_version, html=row.html,
                        text=row.text, includes=row.includes, created_at=row.created_at, updated_at=row.updated_at)


@router.post("", status_code=201, response_model=LayoutPublic)
async def create_layout(body: LayoutCreate, pool: PoolDep, _: AdminDep) -> LayoutPublic:
    return public(await layouts.create(pool, body.name, body.html, body.text))


@router.put("/{name}", response_model=LayoutPublic)
async def update_layout(name: str, body: LayoutUpdate, pool: PoolDep, _: AdminDep) -> LayoutPublic:
    """A new version: notifications accepted from now on render with it; those accepted before keep theirs."""
    return public(await layouts.update(pool, name, body.html, body.text, named=body.name))


@router.get("", response_model=Page[LayoutPublic])
async def list_layouts(pool: PoolDep, page: PageDep, _: ReadDep) -> Page[LayoutPublic]:
    after = page.decode(str)
    rows = await layouts.list_latest(pool, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r.name])
    return Page(items=[public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{name}", response_model=LayoutPublic)
async def get_layout(name: str, pool: PoolDep, _: ReadDep,
                     version: Annotated[int | None, Query(ge=1, le=MAX_INT4)] = None) -> LayoutPublic:
    return public(await layouts.get(pool, name, version))


@router.delete("/{name}", status_code=204)
async def delete_layout(name: str, pool: PoolDep, _: AdminDep) -> Response:
    """Hides the layout; 409 while a template uses it."""
    await layouts.delete(pool, name)
    return Response(status_code=204)
