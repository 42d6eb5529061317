"""The inbox in the customer's own app: a user token (Herald-issued, or a JWT the customer's backend signed) reads
and changes its own user's feed and preferences, and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from api.deps import PageDep, PoolDep, PrincipalDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.schemas import (
    ActionClickPublic,
    FeedAction,
    FeedAllChange,
    FeedChange,
    FeedItemPublic,
    FeedPage,
    FeedStatus,
    Preferences,
    PreferencesPatch,
    SnoozeRequest,
)
from api.token_streams import token_stream
from services import feed, users

router = APIRouter(prefix="/v1/me", tags=["me"])


async def me(principal: PrincipalDep) -> str:
    """The token's user; an API key has no `me`."""
    if principal.user_id is None:
        raise ApiError(403, "forbidden", "/v1/me/... answers user tokens only; with an API key use "
                       "/v1/users/{id}/inbox")
    return principal.user_id


MeDep = Annotated[str, Depends(me)]
ItemId = Annotated[str, Path(max_length=255)]


def public(record: feed.FeedItemRecord) -> FeedItemPublic:
    return FeedItemPublic(**{**asdict(record), "actions": [FeedAction(**a) for a in record.actions]})


@router.get("/feed", response_model=FeedPage)
async def get_feed(user_id: MeDep, pool: PoolDep, page: PageDep, status: FeedStatus | None = None,
                   category: Annotated[str | None, Query(max_length=64)] = None) -> FeedPage:
    """Items newest first: without `status` those neither archived nor snoozed; with the counts of the feed."""
    after = page.decode(datetime, str)
    rows = await feed.page(pool, user_id, status=status, category=category, limit=page.fetch,
                           after=(after[0], after[1]) if after else None)
    rows, next_cursor = page.cut(rows, lambda r: [r.created_at.isoformat(), r.notification_id])
    counts = await feed.counts(pool, user_id)
    return FeedPage(items=[public(r) for r in rows], next_cursor=next_cursor, unread_count=counts.unread_count,
                    unseen_count=counts.unseen_count)


@router.get("/feed/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`data:` JSON events: `{\"type\": \"counts\", ...}` first, then "
                                            "`{\"type\": \"item\", \"new\", \"item\", \"unread_count\", "
                                            "\"unseen_count\"}` for each new or changed item"}})
async def stream_feed(user_id: MeDep, request: Request, pool: PoolDep, principal: PrincipalDep,
                      settings: SettingsDep) -> StreamingResponse:
    """Server-Sent Events: every new or changed item of the feed (read in another tab, back from a snooze) with
    the counts after it. A token holds at most HERALD_TOKEN_MAX_STREAMS streams per API process."""
    assert principal.token_id is not None, "a principal with a user has a token"

    def events(alive: Callable[[], Awaitable[bool]] | None) -> AsyncIterator[str]:
        return feed.events(request.app.state.inbox_feed, pool, user_id, alive)

    return token_stream(request, pool, settings, principal.token_id, events)


@router.post("/feed/{mark_all}", status_code=204)
async def change_all(mark_all: FeedAllChange, user_id: MeDep, pool: PoolDep, temporal: TemporalDep) -> Response:
    """`seen-all` or `read-all`: every item in the feed (not archived, not snoozed)."""
    await feed.change_all(pool, temporal, user_id, mark_all.removesuffix("-all"))
    return Response(status_code=204)


@router.post("/feed/{notification_id}/snooze", response_model=FeedItemPublic)
async def snooze(notification_id: ItemId, body: SnoozeRequest, user_id: MeDep, pool: PoolDep,
                 temporal: TemporalDep, settings: SettingsDep) -> FeedItemPublic:
    """The item leaves the feed until `until`, then comes back, live in every open stream."""
    return public(await feed.snooze(pool, temporal, settings, user_id, notification_id, body.until))


@router.post("/feed/{notification_id}/actions/{index}", response_model=ActionClickPublic)
async def click_action(notification_id: ItemId, index: Annotated[int, Path(ge=0, le=1)], user_id: MeDep,
                       pool: PoolDep) -> ActionClickPublic:
    """Records the click (status webhooks get `notification.action`) and answers the URL to open."""
    url = await feed.click(pool, user_id, notification_id, index)
    return ActionClickPublic(notification_id=notification_id, index=index, url=url)


@router.post("/feed/{notification_id}/{change}", response_model=FeedItemPublic)
async def change_one(notification_id: ItemId, change: FeedChange, user_id: MeDep, pool: PoolDep,
                     temporal: TemporalDep) -> FeedItemPublic:
    """`seen`, `read` (seen too), `unread`, `archive` or `unarchive` one item; the item as it is now."""
    return public(await feed.change(pool, temporal, user_id, notification_id, change))


@router.get("/preferences", response_model=Preferences)
async def get_preferences(user_id: MeDep, pool: PoolDep) -> Any:
    return (await users.get(pool, user_id)).preferences


@router.patch("/preferences", response_model=Preferences)
async def patch_preferences(body: PreferencesPatch, user_id: MeDep, pool: PoolDep) -> Any:
    given = body.model_dump(mode="json", exclude_unset=True)
    user = await users.merge_preferences(pool, user_id, given.get("channels") or {}, given.get("categories") or {},
                                         "quiet_hours" in given, given.get("quiet_hours"))
    return user.preferences
