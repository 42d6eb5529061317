"""Users: the recipients, their contact points and preferences, and their inbox tokens."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any

from fastapi import APIRouter, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep
from api.schemas import DEFAULT_TOKEN_TTL_S, Page, TokenCreate, TokenPublic, UserCreate, UserPublic, UserUpdate
from core.durations import window_seconds
from services import users

router = APIRouter(prefix="/v1/users", tags=["users"])


def _fields(body: UserCreate | UserUpdate, *, only_set: bool) -> dict[str, Any]:
    """The user's fields a body gives (all of them, or only those it sets), as the store takes them."""
    return body.model_dump(mode="json", exclude_unset=only_set, exclude={"id"})


def public(row: users.UserRecord) -> UserPublic:
    return UserPublic(**asdict(row))


@router.post("", status_code=201, response_model=UserPublic)
async def create_user(body: UserCreate, pool: PoolDep, _: AdminDep) -> UserPublic:
    return public(await users.create(pool, body.id, _fields(body, only_set=False)))


@router.get("", response_model=Page[UserPublic])
async def list_users(pool: PoolDep, page: PageDep, _: ReadDep) -> Page[UserPublic]:
    rows, next_cursor = await page.by_text_key(partial(users.list_users, pool), lambda r: r.id)
    return Page(items=[public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: str, pool: PoolDep, _: ReadDep) -> UserPublic:
    return public(await users.get(pool, user_id))


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(user_id: str, body: UserUpdate, pool: PoolDep, _: AdminDep) -> UserPublic:
    return public(await users.update(pool, user_id, _fields(body, only_set=True)))


@router.post("/{user_id}/tokens", status_code=201, response_model=TokenPublic)
async def issue_token(user_id: str, pool: PoolDep, _: AdminDep, body: TokenCreate | None = None) -> TokenPublic:
    ttl_s = window_seconds(body.ttl) if body and body.ttl else DEFAULT_TOKEN_TTL_S
    issued = await users.issue_token(pool, user_id, ttl_s)
    return TokenPublic(token=issued.token, id=issued.id, expires_at=issued.expires_at)


@router.delete("/{user_id}/tokens/{token_id}", status_code=204)
async def revoke_token(user_id: str, token_id: str, pool: PoolDep, _: AdminDep) -> Response:
    """Revokes the token at once, in every API process."""
    await users.revoke_token(pool, user_id, token_id)
    return Response(status_code=204)
