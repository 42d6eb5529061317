"""Dependencies: the pool, the Temporal client, settings, and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import asyncpg
from fastapi import Depends, Query, Request
from temporalio.client import Client

from api.errors import ApiError
from api.inbox_jwt import looks_like_jwt, user_for_jwt
from core.ids import hash_secret
from core.settings import Settings
from services import keys, users
from services.accept_reads import AcceptReads
from services.start_announcer import StartAnnouncer
from store.pagination import BadCursor, CursorKind, decode_cursor, encode_cursor

Row = TypeVar("Row")  # a record of any kind, or a dict


async def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_start_announcer(request: Request) -> StartAnnouncer:
    announcer: StartAnnouncer = request.app.state.start_announcer
    return announcer


# The dependencies are coroutines although they do not await: FastAPI runs a plain `def` dependency in a
# thread pool, a thread hand-off per dependency per request (about 9% of the API's CPU under load).
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AnnouncerDep = Annotated[StartAnnouncer, Depends(get_start_announcer)]


async def get_accept_reads(request: Request) -> AcceptReads:
    kept: AcceptReads = request.app.state.accept_reads
    return kept


AcceptReadsDep = Annotated[AcceptReads, Depends(get_accept_reads)]


SCOPES = ("admin", "send", "read")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key with scopes, or a user token (no scopes, one inbox)."""

    scopes: frozenset[str] = frozenset()
    user_id: str | None = None
    key_id: str | None = None
    token_id: str | None = None  # the user token's id, for a user token

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def key(self) -> str:
        """The calling API key's id ("env" for HERALD_ADMIN_KEY): the scope of its idempotency keys and the owner
        of what it creates. Only routes closed to user tokens ask for it."""
        if self.key_id is None:
            raise ApiError(403, "forbidden", "a user token may only read and mark its own user's inbox")
        return self.key_id

    @property
    def sees_all(self) -> bool:
        """`admin` and `read` keys see every notification; a `send`-only key sees only what it created."""
        return self.may("read")

    def may(self, *scopes: str) -> bool:
        """True if the caller holds any of `scopes`; `admin` holds them all."""
        return self.is_admin or any(scope in self.scopes for scope in scopes)


UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


async def principal_for_key(pool: asyncpg.Pool, settings: Settings, key: str) -> Principal | None:
    """The principal a presented key stands for, or None if it is no valid key (the dashboard's cookie too)."""
    if settings.admin_key and hmac.compare_digest(key.encode(), settings.admin_key.encode()):
        return Principal(scopes=frozenset({"admin"}), key_id="env")
    if looks_like_jwt(key):
        return await _principal_for_jwt(pool, settings, key)
    hashed = hash_secret(key)
    stored = await keys.check(pool, hashed, settings.key_rate_per_s, settings.key_burst)
    if stored is not None:
        _refuse_when_used_up(stored, "key")
        return Principal(scopes=stored.scopes, key_id=stored.key_id)
    token = await users.check_token(pool, hashed, settings.token_rate_per_s, settings.token_burst)
    if token is not None:
        _refuse_when_used_up(token, "token")
        return Principal(user_id=token.user_id, token_id=token.token_id)
    return None


def _refuse_when_used_up(check: keys.KeyCheck | users.TokenCheck, what: str) -> None:
    if not check.allowed:
        raise ApiError(429, "rate_limited", f"this {what}'s request rate is used up; retry in {check.retry_after_s} s",
                       headers={"Retry-After": str(check.retry_after_s)})


async def _principal_for_jwt(pool: asyncpg.Pool, settings: Settings, token: str) -> Principal | None:
    user_id = user_for_jwt(token, settings.inbox_signing_key)
    if user_id is None:
        return None
    # The customer mints these at will, so a limit per token would bind nothing: the rate and the streams are
    # counted per user instead.
    subject = f"jwt:{user_id}"
    allowed, retry_after_s = await users.take_rate(pool, subject, settings.token_rate_per_s, settings.token_burst)
    if not allowed:
        raise ApiError(429, "rate_limited", f"this user's token rate is used up; retry in {retry_after_s} s",
                       headers={"Retry-After": str(retry_after_s)})
    return Principal(user_id=user_id, token_id=subject)


async def get_principal(request: Request, pool: PoolDep, settings: SettingsDep) -> Principal:
    key = bearer_key(request)
    if key is None:
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'",
                       headers=UNAUTHORIZED)
    principal = await principal_for_key(pool, settings, key)
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is not valid", headers=UNAUTHORIZED)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*scopes: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through keys holding any of `scopes` (or `admin`), and answers 403 otherwise."""

    async def check(principal: PrincipalDep) -> Principal:
        if principal.may(*scopes):
            return principal
        if principal.user_id is not None:
            raise ApiError(403, "forbidden", "a user token may only read and mark its own user's inbox")
        needed = " or ".join(f"'{s}'" for s in (*scopes, "admin"))
        raise ApiError(403, "forbidden", f"this key needs the {needed} scope for this request")

    return check


AdminDep = Annotated[Principal, Depends(require("admin"))]
ReadDep = Annotated[Principal, Depends(require("read"))]
SendDep = Annotated[Principal, Depends(require("send"))]
# Senders may follow what they sent: notification and broadcast status.
StatusDep = Annotated[Principal, Depends(require("send", "read"))]



@dataclass(frozen=True)
class Page:
    limit: int
    cursor: str | None

    @property
    def fetch(self) -> int:
        """Routes fetch one row more than they return: the extra one only says whether a next page exists."""
        return self.limit + 1

    def cut(self, rows: list[Row], key: Callable[[Row], list[Any]]) -> tuple[list[Row], str | None]:
        """The rows of this page and the cursor of the next (None on the last page)."""
        if len(rows) <= self.limit:
            return rows, None
        rows = rows[: self.limit]
        return rows, encode_cursor(key(rows[-1]))

    async def by_text_key(self, fetch: Callable[[str | None, int], Awaitable[list[Row]]],
                          key: Callable[[Row], str]) -> tuple[list[Row], str | None]:
        """This page of a listing ordered by one text key: `fetch(after, limit)` reads from the cursor's key on."""
        after = self.decode(str)
        rows = await fetch(after[0] if after else None, self.fetch)
        return self.cut(rows, lambda row: [key(row)])

    def decode(self, *kinds: CursorKind) -> list[Any] | None:
        """The cursor's values, one of each kind (see store.pagination); 422 naming `cursor` otherwise."""
        try:
            return decode_cursor(self.cursor, *kinds)
        except BadCursor as exc:
            raise ApiError(422, "validation_error", str(exc), [{"field": "cursor", "message": str(exc)}]) \
                from exc


async def get_page(limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None) -> Page:
    return Page(limit=limit, cursor=cursor)


PageDep = Annotated[Page, Depends(get_page)]
