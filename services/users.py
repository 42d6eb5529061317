"""Users: the recipients, their contact points and preferences, and the inbox tokens they read with."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.errors import Problem, not_found
from core.ids import hash_secret
from store import users
from store.users import TokenCheck as TokenCheck
from store.users import UserRecord as UserRecord

if TYPE_CHECKING:
    from store.db import Executor


async def create(db: Executor, user_id: str | None, fields: dict[str, Any]) -> UserRecord:
    """Stores a new user (an id is made when none is given); 409 if the id is taken."""
    user_id = user_id or f"usr_{secrets.token_hex(8)}"
    row = await users.create(db, user_id, fields)
    if row is None:
        raise Problem(409, "user_exists", f"a user with id '{user_id}' already exists")
    return row


async def get(db: Executor, user_id: str) -> UserRecord:
    row = await users.get(db, user_id)
    if row is None:
        raise not_found("user", user_id)
    return row


async def find(db: Executor, user_id: str) -> UserRecord | None:
    """The user, or None (a page shows its own answer)."""
    return await users.get(db, user_id)


async def list_users(db: Executor, after: str | None, limit: int) -> list[UserRecord]:
    """Users by id, after `after`."""
    return await users.list_users(db, after, limit)


async def search(db: Executor, query: str, limit: int) -> list[UserRecord]:
    """Users whose id or name starts with `query`, or whose email contains it."""
    return await users.search(db, query, limit)


async def update(db: Executor, user_id: str, changes: dict[str, Any]) -> UserRecord:
    """Sets the fields present in `changes` (null clears; a cleared list is empty); 404 for an unknown user."""
    changes = dict(changes)
    if "name" in changes and changes["name"] is None:
        raise Problem(422, "validation_error", "name: cannot be cleared",
                      [{"field": "name", "message": "cannot be cleared"}])
    for list_field, empty in (("topics", []), ("preferences", {})):
        if list_field in changes and changes[list_field] is None:
            changes[list_field] = empty
    row = await users.update(db, user_id, changes)
    if row is None:
        raise not_found("user", user_id)
    return row


@dataclass(frozen=True)
class IssuedToken:
    """A new inbox token: `token` is shown once, by the caller; only its hash is stored."""

    token: str
    id: str
    expires_at: datetime


async def issue_token(db: Executor, user_id: str, ttl_s: int) -> IssuedToken:
    """A new inbox token for the user, living `ttl_s` seconds; 404 for an unknown user."""
    if await users.get(db, user_id) is None:
        raise not_found("user", user_id)
    token_id = f"tok_{secrets.token_hex(8)}"
    token = f"hut_{secrets.token_urlsafe(32)}"
    expires_at = await users.add_token(db, user_id, token_id, hash_secret(token), ttl_s)
    return IssuedToken(token=token, id=token_id, expires_at=expires_at)


async def revoke_token(db: Executor, user_id: str, token_id: str) -> None:
    """Revokes the token at once, in every API process; 404 if the user has no such token."""
    if not await users.revoke_token(db, user_id, token_id):
        raise not_found("token", token_id)


async def token_live(db: Executor, token_id: str) -> bool:
    """Whether the token is neither revoked nor expired."""
    return await users.token_live(db, token_id)


async def check_token(db: Executor, token_hash: str, rate: float, burst: int) -> TokenCheck | None:
    """The live inbox token with this hash (one request taken from its rate), or None when there is none."""
    return await users.check_token(db, token_hash, rate, burst)


async def take_rate(db: Executor, subject: str, rate: float, burst: int) -> tuple[bool, int]:
    """Takes one request from `subject`'s rate: (allowed, retry after s)."""
    return await users.take_rate(db, subject, rate, burst)
