"""The user inbox: a user token's own in-app notifications, newest first, unread marked, live by SSE."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from api.deps import PoolDep, TemporalDep
from api.web.auth import UserPage
from api.web.render import page, see_other
from services import inbox, starting
from store.pagination import BadCursor, decode_cursor, encode_cursor

router = APIRouter(prefix="/ui/inbox")
PAGE_SIZE = 50


@router.get("", response_class=HTMLResponse)
async def inbox_page(request: Request, pool: PoolDep, principal: UserPage) -> HTMLResponse:
    assert principal.user_id is not None
    try:
        after = decode_cursor(request.query_params.get("cursor") or None, datetime, str)
    except BadCursor:
        after = None
    rows = await inbox.items(pool, principal.user_id, unread_only=False, limit=PAGE_SIZE + 1,
                             after=(after[0], after[1]) if after else None)
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_url = "/ui/inbox?" + urlencode({"cursor": encode_cursor([rows[-1].created_at.isoformat(),
                                                                        rows[-1].notification_id])})
    unread = await inbox.unread_count(pool, principal.user_id)
    return page(request, "inbox.html", title=f"({unread}) Inbox" if unread else "Inbox", principal=principal,
                items=rows, unread=unread, next_url=next_url, first_page=after is None)


@router.get("/items/{notification_id}", response_class=HTMLResponse)
async def inbox_item(notification_id: str, request: Request, pool: PoolDep, principal: UserPage) -> HTMLResponse:
    """One item, for the live list to insert when the stream announces it."""
    assert principal.user_id is not None
    item = await inbox.get_item(pool, principal.user_id, notification_id)
    if item is None:
        return HTMLResponse("", status_code=204)
    return page(request, "inbox_item.html", item=item)


@router.get("/stream")
async def stream(request: Request, pool: PoolDep, principal: UserPage) -> StreamingResponse:
    """The contract's inbox stream for the logged-in user (EventSource cannot send a Bearer header)."""
    assert principal.user_id is not None
    return StreamingResponse(inbox.events(request.app.state.inbox_feed, pool, principal.user_id,
                                          request.headers.get("last-event-id")),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/read-all")
async def read_all(pool: PoolDep, temporal: TemporalDep, principal: UserPage) -> RedirectResponse:
    assert principal.user_id is not None
    await starting.signal_read(pool, temporal, await inbox.mark_all_read(pool, principal.user_id))
    return see_other("/ui/inbox", "Everything is marked read.")


@router.post("/{notification_id}/read")
async def read_one(notification_id: str, pool: PoolDep, temporal: TemporalDep,
                   principal: UserPage) -> RedirectResponse:
    assert principal.user_id is not None
    found = await inbox.mark_read(pool, principal.user_id, notification_id)
    if found:
        await starting.signal_read(pool, temporal, [notification_id])
    return see_other("/ui/inbox", "Marked read." if found else "That item is not in your inbox.")
