"""The in-app inbox: a user token reads and marks only its own user's items; admin keys any, read keys read any."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.responses import Content

from api.deps import PageDep, PoolDep, Principal, PrincipalDep, SettingsDep, TemporalDep
from api.errors import ApiError, not_found
from api.schemas import InboxItemPublic, InboxPage
from services import inbox, starting, users

router = APIRouter(prefix="/v1/users/{user_id}/inbox", tags=["inbox"])


async def _authorize(pool: Any, principal: Principal, user_id: str, *, write: bool) -> None:
    await inbox.authorize(pool, user_id, token_user_id=principal.user_id, admin=principal.is_admin,
                          reader=principal.may("read"), write=write)


@router.get("", response_model=InboxPage)
async def list_inbox(user_id: str, pool: PoolDep, principal: PrincipalDep, page: PageDep,
                     unread: bool = False) -> InboxPage:
    await _authorize(pool, principal, user_id, write=False)
    after = page.decode(datetime, str)
    rows = await inbox.items(pool, user_id, unread_only=unread, limit=page.fetch,
                             after=(after[0], after[1]) if after else None)
    rows, next_cursor = page.cut(rows, lambda r: [r.created_at.isoformat(), r.notification_id])
    return InboxPage(items=[InboxItemPublic.model_validate(r, from_attributes=True) for r in rows],
                     unread_count=await inbox.unread_count(pool, user_id), next_cursor=next_cursor)


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


def event_stream(request: Request, pool: Any, user_id: str,
                 alive: Callable[[], Awaitable[bool]] | None = None) -> StreamingResponse:
    """The inbox stream of `user_id`, for a caller already authorized."""
    return StreamingResponse(inbox.events(request.app.state.inbox_feed, pool, user_id,
                                          request.headers.get("last-event-id"), alive),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


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
