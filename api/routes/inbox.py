"""The in-app inbox: a user token reads and marks only its own user's items; admin keys any, read keys read any."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.responses import Content

from api.deps import PageDep, PoolDep, Principal, PrincipalDep, SettingsDep, TemporalDep
from api.errors import ApiError, not_found
from api.schemas import InboxPage
from services import starting
from store import inbox, users
from store.inbox_feed import LOST, InboxFeed

router = APIRouter(prefix="/v1/users/{user_id}/inbox", tags=["inbox"])


async def _authorize(pool: Any, principal: Principal, user_id: str, *, write: bool) -> None:
    """A user token reaches only its own inbox; `admin` keys any inbox, `read` keys read any inbox."""
    if principal.user_id is not None:
        # Another user's inbox answers 404, not 403: a token must not learn which user ids exist.
        if principal.user_id != user_id:
            raise not_found("user", user_id)
        return
    if not (principal.is_admin or (not write and principal.may("read"))):
        needed = "'admin'" if write else "'read' or 'admin'"
        raise ApiError(403, "forbidden", f"this key needs the {needed} scope for this request")
    if await users.get(pool, user_id) is None:
        raise not_found("user", user_id)


@router.get("", response_model=InboxPage)
async def list_inbox(user_id: str, pool: PoolDep, principal: PrincipalDep, page: PageDep,
                     unread: bool = False) -> dict[str, Any]:
    await _authorize(pool, principal, user_id, write=False)
    after = page.decode(datetime, str)
    rows = await inbox.list_items(pool, user_id, unread_only=unread, limit=page.fetch,
                                  after=(after[0], after[1]) if after else None)
    rows, next_cursor = page.cut(rows, lambda r: [r["created_at"].isoformat(), r["notification_id"]])
    return {"items": rows, "unread_count": await inbox.unread_count(pool, user_id), "next_cursor": next_cursor}


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "one `data:` event per new inbox item (JSON), `id:` its notification id"}})
async def stream_inbox(user_id: str, request: Request, pool: PoolDep, principal: PrincipalDep,
                       settings: SettingsDep) -> StreamingResponse:
    """Server-Sent Events: each new item as it arrives. Reconnecting with `Last-Event-ID` first replays the items
    that arrived after that one."""
    await _authorize(pool, principal, user_id, write=False)
    if principal.token_id is None:
        return event_stream(request, pool, user_id)
    slots = _stream_slots(request)
    token_id = principal.token_id
    if slots.get(token_id, 0) >= settings.token_max_streams:
        raise ApiError(429, "too_many_streams", f"this token already holds {settings.token_max_streams} open "
                       "inbox streams; close one first", {"max_streams": settings.token_max_streams})
    slots[token_id] = slots.get(token_id, 0) + 1

    async def alive() -> bool:
        return await users.token_live(pool, token_id)

    # An issued token's stream ends at the first heartbeat after it is revoked or expires; a customer-signed
    # one (`jwt:<user>`) cannot be revoked.
    response = event_stream(request, pool, user_id, None if token_id.startswith("jwt:") else alive)
    stream = response.body_iterator

    async def counted() -> AsyncIterator[Content]:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            slots[token_id] -= 1
            if not slots[token_id]:
                del slots[token_id]

    response.body_iterator = counted()
    return response


def _stream_slots(request: Request) -> dict[str, int]:
    """Open inbox streams per user token in this API process (a browser tab holds one each)."""
    if not hasattr(request.app.state, "token_streams"):
        request.app.state.token_streams = {}
    slots: dict[str, int] = request.app.state.token_streams
    return slots


# A comment line this often keeps proxies from closing an idle stream and lets a dead client be noticed.
HEARTBEAT_S = 15.0
CATCH_UP_LIMIT = 500


def event_stream(request: Request, pool: Any, user_id: str,
                 alive: Callable[[], Awaitable[bool]] | None = None) -> StreamingResponse:
    """The inbox stream of `user_id`, for a caller already authorized; the dashboard's inbox page uses it too.
    `alive` is asked at every heartbeat whether the caller may still listen; the stream ends when it says no."""
    feed: InboxFeed = request.app.state.inbox_feed
    last_event_id = request.headers.get("last-event-id")

    async def events() -> AsyncIterator[str]:
        async with feed.subscribe(user_id) as queue:
            # Subscribed before catching up, so nothing falls between the two; `sent` drops the overlap.
            yield f"retry: 2000\n: inbox stream of {json.dumps(user_id)}\n\n"
            sent: set[str] = set()
            if last_event_id:
                for item in await inbox.items_after(pool, user_id, last_event_id, CATCH_UP_LIMIT):
                    sent.add(item["notification_id"])
                    yield await _event(pool, user_id, item)
            while True:
                try:
                    notification_id = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
                except TimeoutError:
                    if alive is not None and not await alive():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if notification_id == LOST:
                    return  # the client reconnects with Last-Event-ID and catches up
                if notification_id in sent:
                    continue
                new_item = await inbox.get_item(pool, user_id, notification_id)
                if new_item is not None:
                    yield await _event(pool, user_id, new_item)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _event(pool: Any, user_id: str, item: dict[str, Any]) -> str:
    payload = {"type": "inbox_item", "user_id": user_id, **item,
               "created_at": item["created_at"].isoformat(),
               "read_at": item["read_at"].isoformat() if item["read_at"] else None,
               "unread_count": await inbox.unread_count(pool, user_id)}
    return f"id: {item['notification_id']}\ndata: {json.dumps(payload)}\n\n"


@router.post("/read-all", status_code=204)
async def mark_all_read(user_id: str, pool: PoolDep, temporal: TemporalDep, principal: PrincipalDep) -> Response:
    await _authorize(pool, principal, user_id, write=True)
    await starting.signal_read(pool, temporal, await inbox.mark_all_read(pool, user_id))
    return Response(status_code=204)


@router.post("/{notification_id}/read", status_code=204)
async def mark_read(user_id: str, notification_id: str, pool: PoolDep, temporal: TemporalDep,
                    principal: PrincipalDep) -> Response:
    await _authorize(pool, principal, user_id, write=True)
    if not await inbox.mark_read(pool, user_id, notification_id):
        raise not_found("inbox item", notification_id)
    await starting.signal_read(pool, temporal, [notification_id])
    return Response(status_code=204)
