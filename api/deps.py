"""Dependencies: the pool, the Temporal client, settings, and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Query, Request
from temporalio.client import Client

from api.errors import ApiError
from core.ids import hash_secret
from core.settings import Settings
from store import users
from store.pagination import BadCursor, decode_cursor, encode_cursor


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Principal:
    is_admin: bool
    user_id: str | None = None


async def get_principal(request: Request, pool: PoolDep, settings: SettingsDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": "Bearer"})
    key = key.strip()
    if settings.admin_key and hmac.compare_digest(key.encode(), settings.admin_key.encode()):
        return Principal(is_admin=True)
    user_id = await users.user_for_token(pool, hash_secret(key))
    if user_id is not None:
        return Principal(is_admin=False, user_id=user_id)
    raise ApiError(401, "unauthorized", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this key may only read and mark its own user's inbox")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: str | None

    @property
    def fetch(self) -> int:
        """Routes fetch one row more than they return: the extra one only says whether a next page exists."""
        return self.limit + 1

    def cut(self, rows: list[dict[str, Any]],
            key: Callable[[dict[str, Any]], list[Any]]) -> tuple[list[dict[str, Any]], str | None]:
        """The rows of this page and the cursor of the next (None on the last page)."""
        if len(rows) <= self.limit:
            return rows, None
        rows = rows[: self.limit]
        return rows, encode_cursor(key(rows[-1]))

    def decode(self, width: int) -> list[object] | None:
        try:
            return decode_cursor(self.cursor, width)
        except BadCursor as exc:
            raise ApiError(422, "validation_error", str(exc), [{"field": "cursor", "message": str(exc)}]) \
                from exc


def get_page(limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None) -> Page:
    return Page(limit=limit, cursor=cursor)


PageDep = Annotated[Page, Depends(get_page)]
