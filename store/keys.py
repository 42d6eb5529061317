"""API keys (hashed, scoped, revocable) and the per-key request rate shared by all API processes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor

COLUMNS = "id, name, scopes, rate_per_s, burst, created_at, revoked_at"


@dataclass(frozen=True)
class KeyRecord:
    """An API key as stored, without its hash; a rate or burst of None takes the settings' defaults."""

    id: str
    name: str
    scopes: list[str]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    revoked_at: datetime | None


async def create(conn: Executor, key_id: str, name: str, key_hash: str, scopes: list[str],
                 rate_per_s: float | None, burst: int | None) -> KeyRecord:
    row = one(KeyRecord, await conn.fetchrow(
        f"""INSERT INTO api_key (id, name, key_hash, scopes, rate_per_s, burst)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}""",
        key_id, name, key_hash, scopes, rate_per_s, burst,
    ))
    assert row is not None
    return row


async def list_keys(conn: Executor, after: str | None, limit: int) -> list[KeyRecord]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM api_key WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2", after, limit,
    )
    return many(KeyRecord, rows)


async def revoke(conn: Executor, key_id: str) -> bool:
    """Revokes a key (at once, in every API process); False if there is no such key. Revoking twice is a no-op."""
    done: str = await conn.execute(
        "UPDATE api_key SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1", key_id,
    )
    return done.endswith(" 1")


@dataclass(frozen=True)
class KeyCheck:
    """The answer to one presented key: who it is and whether this request fits its rate."""

    key_id: str
    scopes: frozenset[str]
    allowed: bool
    retry_after_s: int


async def check(conn: Executor, key_hash: str, default_rate: float, default_burst: int) -> KeyCheck | None:
    """Looks a key up and takes one request from its rate, in one statement (one round trip per request).

    The rate is GCRA: `tat` is when the key's bucket would be empty again. A request is allowed when, after
    adding its own interval, `tat` lies no further ahead than the burst allows; the UPDATE's WHERE decides that
    under the row lock, so concurrent API processes cannot both take the last token. A rate of 0 or less
    means unlimited.
    """
    row = await conn.fetchrow(
        """
        WITH k AS (
            SELECT id, scopes, COALESCE(rate_per_s, $2) AS rate, COALESCE(burst, $3) AS burst
            FROM api_key WHERE key_hash = $1 AND revoked_at IS NULL
        ), spent AS (
            INSERT INTO api_rate (subject, tat)
            SELECT id, clock_timestamp() + make_interval(secs => 1.0 / rate) FROM k WHERE rate > 0
            ON CONFLICT (subject) DO UPDATE
            SET tat = GREATEST(api_rate.tat, clock_timestamp()) + make_interval(secs => 1.0 / (SELECT rate FROM k))
            WHERE GREATEST(api_rate.tat, clock_timestamp()) - clock_timestamp()
                  <= make_interval(secs => ((SELECT burst FROM k) - 1) / (SELECT rate FROM k))
            RETURNING tat
        )
        SELECT k.id, k.scopes, k.rate, k.burst, (k.rate <= 0 OR EXISTS (SELECT 1 FROM spent)) AS allowed,
               EXTRACT(EPOCH FROM (SELECT tat FROM api_rate WHERE subject = k.id) - clock_timestamp())
                   AS ahead_s
        FROM k
        """,
        key_hash, default_rate, default_burst,
    )
    if row is None:
        return None
    retry_after = 0
    if not row["allowed"]:
        # Room for one more request opens when `tat` is no more than (burst - 1) intervals ahead.
        wait = float(row["ahead_s"] or 0) - (row["burst"] - 1) / row["rate"]
        retry_after = max(1, math.ceil(wait))
    return KeyCheck(row["id"], frozenset(row["scopes"]), bool(row["allowed"]), retry_after)
