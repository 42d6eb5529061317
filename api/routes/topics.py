"""Topics: named groups of users, for broadcasts. Membership is also editable as `topics` on a user."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Path, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep
from api.schemas import Name, TopicChange, TopicChangePublic
from services import topics

router = APIRouter(prefix="/v1/topics", tags=["topics"])
TopicName = Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@router.post("/{name}/subscribers", response_model=TopicChangePublic)
async def subscribe(body: TopicChange, pool: PoolDep, _: AdminDep, name: Name = TopicName) -> TopicChangePublic:
    return TopicChangePublic(topic=name, changed=await topics.subscribe(pool, name, body.user_ids))


@router.delete("/{name}/subscribers", response_model=TopicChangePublic)
async def unsubscribe(body: TopicChange, pool: PoolDep, _: AdminDep, name: Name = TopicName) -> TopicChangePublic:
    return TopicChangePublic(topic=name, changed=await topics.unsubscribe(pool, name, body.user_ids))


@router.delete("/{name}/subscribers/{user_id}", status_code=204)
async def unsubscribe_one(user_id: str, pool: PoolDep, _: AdminDep, name: Name = TopicName) -> Response:
    await topics.unsubscribe(pool, name, [user_id])
    return Response(status_code=204)


@router.get("/{name}/subscribers")
async def list_subscribers(pool: PoolDep, page: PageDep, _: ReadDep, name: Name = TopicName) -> dict[str, Any]:
    ids, next_cursor = await page.by_text_key(partial(topics.subscribers, pool, name), lambda i: i)
    return {"items": ids, "next_cursor": next_cursor}
