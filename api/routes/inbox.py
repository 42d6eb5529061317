"""The in-app inbox: a user token reads and marks only its own user's items; admin keys any, read keys read any."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response

from api.deps import PageDep, PoolDep, Principal, PrincipalDep
from api.errors import ApiError, not_found
from api.schemas import InboxPage
from store import inbox, users

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
    after = page.decode(2)
    rows = await inbox.list_items(pool, user_id, unread_only=unread, limit=page.fetch,
                                  after=(datetime.fromisoformat(str(after[0])), str(after[1])) if after else None)
    rows, next_cursor = page.cut(rows, lambda r: [r["created_at"].isoformat(), r["notification_id"]])
    return {"items": rows, "unread_count": await inbox.unread_count(pool, user_id), "next_cursor": next_cursor}


@router.post("/read-all", status_code=204)
async def mark_all_read(user_id: str, pool: PoolDep, principal: PrincipalDep) -> Response:
    await _authorize(pool, principal, user_id, write=True)
    await inbox.mark_all_read(pool, user_id)
    return Response(status_code=204)


@router.post("/{notification_id}/read", status_code=204)
async def mark_read(user_id: str, notification_id: str, pool: PoolDep, principal: PrincipalDep) -> Response:
    await _authorize(pool, principal, user_id, write=True)
    if not await inbox.mark_read(pool, user_id, notification_id):
        raise not_found("inbox item", notification_id)
    return Response(status_code=204)
