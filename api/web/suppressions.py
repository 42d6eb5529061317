"""The suppressions page: addresses Herald never sends to; add one, remove one, filter by channel or address."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import PoolDep
from api.web.auth import AdminPage
from api.web.render import page, read_form, see_other
from core.errors import Problem
from services import suppressions
from store.pagination import BadCursor, decode_cursor, encode_cursor

router = APIRouter(prefix="/ui/suppressions")
PAGE_SIZE = 100


@router.get("", response_class=HTMLResponse)
async def suppressions_page(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    query = request.query_params
    channel = query.get("channel") or None
    channel = channel if channel in suppressions.CHANNELS else None
    address = (query.get("address") or "").strip() or None
    try:
        after = decode_cursor(query.get("after") or None, *suppressions.CURSOR)
    except BadCursor:
        after = None
    error = None
    try:
        rows = await suppressions.list_page(pool, channel=channel, address=address,
                                            after=(after[0], after[1], after[2]) if after else None,
                                            limit=PAGE_SIZE + 1)
    except Problem as exc:  # an address that cannot be one on the channel chosen
        rows, error = [], exc.message
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        last = rows[-1]
        filters = {k: v for k, v in (("channel", channel), ("address", address)) if v}
        next_url = "/ui/suppressions?" + urlencode(
            {**filters, "after": encode_cursor([last.created_at.isoformat(), last.channel, last.address])})
    return page(request, "suppressions.html", title="Suppressions", principal=principal, items=rows,
                next_url=next_url, channel=channel, address=address or "", channels=list(suppressions.CHANNELS),
                error=error)


@router.post("/add")
async def add(request: Request, pool: PoolDep, _: AdminPage) -> RedirectResponse:
    form = await read_form(request)
    try:
        added = await suppressions.add(pool, channel=form.get("channel"), address=form.get("address"),
                                       reason=form.optional("reason"), source="dashboard")
    except Problem as exc:
        return see_other("/ui/suppressions", f"Not suppressed: {exc.message}")
    return see_other("/ui/suppressions", f"{added.address} ({added.channel}) is suppressed.")


@router.post("/remove")
async def remove(request: Request, pool: PoolDep, _: AdminPage) -> RedirectResponse:
    form = await read_form(request)
    try:
        await suppressions.remove(pool, form.get("channel"), form.get("address"))
    except Problem as exc:
        return see_other("/ui/suppressions", f"Not removed: {exc.message}")
    return see_other("/ui/suppressions", f"{form.get('address')} ({form.get('channel')}) is no longer suppressed.")
