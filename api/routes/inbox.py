"""The in-app inbox: a user token reads and marks only its own user's items; admin keys any, read keys read any."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import PageDep, PoolDep, Principal, PrincipalDep, SettingsDep, TemporalDep
from api.errors import not_found
from api.schemas import InboxItemPublic, InboxPage
from api.token_streams import event_response, token_stream
from services import inbox, starting

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
    last_event_id = request.headers.get("last-event-id")

    def events(alive: Callable[[], Awaitable[bool]] | None) -> AsyncIterator[str]:
        return inbox.events(request.app.state.inbox_feed, pool, user_id, last_event_id, alive)

    if principal.token_id is None:
        return event_response(events(None))
    return token_stream(request, pool, settings, principal.token_id, events)


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
