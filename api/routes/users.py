"""Users: the recipients, their contact points and preferences, and their inbox tokens."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
from fastapi import APIRouter, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep
from api.errors import ApiError, not_found
from api.schemas import DEFAULT_TOKEN_TTL_S, Page, TokenCreate, TokenPublic, UserCreate, UserPublic, UserUpdate
from core.durations import window_seconds
from core.ids import hash_secret
from store import users

router = APIRouter(prefix="/v1/users", tags=["users"])


def _fields(body: UserCreate | UserUpdate, *, only_set: bool) -> dict[str, Any]:
    values = body.model_dump(mode="json", exclude_unset=only_set, exclude={"id"})
    return values


@router.post("", status_code=201, response_model=UserPublic)
async def create_user(body: UserCreate, pool: PoolDep, _: AdminDep) -> dict[str, Any]:
    return await create(pool, body)


async def create(pool: asyncpg.Pool, body: UserCreate) -> dict[str, Any]:
    """Stores a new user (the API's POST and the dashboard's form); 409 if the id is taken."""
    user_id = body.id or f"usr_{secrets.token_hex(8)}"
    row = await users.create(pool, user_id, _fields(body, only_set=False))
    if row is None:
        raise ApiError(409, "user_exists", f"a user with id '{user_id}' already exists")
    return row


@router.get("", response_model=Page[UserPublic])
async def list_users(pool: PoolDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    after = page.decode(str)
    rows = await users.list_users(pool, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r["id"]])
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: str, pool: PoolDep, _: ReadDep) -> dict[str, Any]:
    row = await users.get(pool, user_id)
    if row is None:
        raise not_found("user", user_id)
    return row


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(user_id: str, body: UserUpdate, pool: PoolDep, _: AdminDep) -> dict[str, Any]:
    return await update(pool, user_id, body)


async def update(pool: asyncpg.Pool, user_id: str, body: UserUpdate) -> dict[str, Any]:
    """Sets the fields present in `body` (null clears); 404 for an unknown user."""
    changes = _fields(body, only_set=True)
    if "name" in changes and changes["name"] is None:
        raise ApiError(422, "validation_error", "name: cannot be cleared",
                       [{"field": "name", "message": "cannot be cleared"}])
    for list_field, empty in (("topics", []), ("preferences", {})):
        if list_field in changes and changes[list_field] is None:
            changes[list_field] = empty
    row = await users.update(pool, user_id, changes)
    if row is None:
        raise not_found("user", user_id)
    return row


@router.post("/{user_id}/tokens", status_code=201, response_model=TokenPublic)
async def issue_token(user_id: str, pool: PoolDep, _: AdminDep, body: TokenCreate | None = None) -> TokenPublic:
    ttl_s = window_seconds(body.ttl) if body and body.ttl else DEFAULT_TOKEN_TTL_S
    return await new_token(pool, user_id, ttl_s)


@router.delete("/{user_id}/tokens/{token_id}", status_code=204)
async def revoke_token(user_id: str, token_id: str, pool: PoolDep, _: AdminDep) -> Response:
    """Revokes the token at once, in every API process."""
    if not await users.revoke_token(pool, user_id, token_id):
        raise not_found("token", token_id)
    return Response(status_code=204)


async def new_token(pool: asyncpg.Pool, user_id: str, ttl_s: int = DEFAULT_TOKEN_TTL_S) -> TokenPublic:
    """A new inbox token for the user; only its hash is stored, so it is shown once, by the caller."""
    if await users.get(pool, user_id) is None:
        raise not_found("user", user_id)
    token_id = f"tok_{secrets.token_hex(8)}"
    token = f"hut_{secrets.token_urlsafe(32)}"
    expires_at = await users.add_token(pool, user_id, token_id, hash_secret(token), ttl_s)
    return TokenPublic(token=token, id=token_id, expires_at=expires_at)
