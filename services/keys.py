"""API keys: issued with scopes (the key itself is shown once), listed, revoked; and who a presented key is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import not_found
from core.ids import hash_secret, new_api_key
from store import keys
from store.keys import KeyCheck as KeyCheck
from store.keys import KeyRecord as KeyRecord

if TYPE_CHECKING:
    from store.db import Executor


@dataclass(frozen=True)
class IssuedKey:
    """A new key's record and the key itself: the one time it is ever available."""

    record: KeyRecord
    key: str


async def issue(db: Executor, name: str, scopes: list[str], rate_per_s: float | None,
                burst: int | None) -> IssuedKey:
    key_id, key = new_api_key()
    record = await keys.create(db, key_id, name, hash_secret(key), scopes, rate_per_s, burst)
    return IssuedKey(record=record, key=key)


async def list_keys(db: Executor, after: str | None, limit: int) -> list[KeyRecord]:
    return await keys.list_keys(db, after, limit)


async def revoke(db: Executor, key_id: str) -> None:
    """Revokes a key at once, in every API process; 404 if there is no such key. Twice is a no-op."""
    if not await keys.revoke(db, key_id):
        raise not_found("key", key_id)


async def check(db: Executor, key_hash: str, default_rate: float, default_burst: int) -> KeyCheck | None:
    """The live stored key with this hash (one request taken from its rate), or None when there is none."""
    return await keys.check(db, key_hash, default_rate, default_burst)
