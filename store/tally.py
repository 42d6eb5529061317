"""Counts kept as rows change (migration 014's triggers), read by /metrics and the dashboard's totals.

Writers append signed changes; `read` first folds the changes committed so far into one row per key, then
sums, so a scrape reads a few dozen rows whether the tables hold a thousand notifications or a hundred million.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from store.records import many

if TYPE_CHECKING:
    from store.db import Connection, Executor

# Any constant: two folds at once would only wait on each other, so the second skips its turn.
_FOLD_LOCK = 7_014_001

_FOLD = """
WITH taken AS (
    DELETE FROM tally_change RETURNING kind, status, channel, priority, delta
)
INSERT INTO tally AS t (kind, status, channel, priority, n)
SELECT kind, status, channel, priority, sum(delta) FROM taken
GROUP BY kind, status, channel, priority
ORDER BY kind, status, channel, priority
ON CONFLICT (kind, status, channel, priority) DO UPDATE SET n = t.n + EXCLUDED.n
"""

_READ = """
SELECT kind, status, channel, priority, sum(n)::bigint AS n FROM (
    SELECT kind, status, channel, priority, n FROM tally
    UNION ALL
    SELECT kind, status, channel, priority, delta FROM tally_change
) t
GROUP BY kind, status, channel, priority
HAVING sum(n) <> 0
"""


@dataclass(frozen=True)
class Count:
    kind: str  # 'notification', 'delivery' or 'failed_attempt'
    status: str
    channel: str
    priority: str
    n: int


async def read(conn: Executor) -> list[Count]:
    """Every non-zero count, after folding the changes committed so far."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            return await _read(acquired)
    return await _read(conn)


async def fold(conn: Executor) -> None:
    """Folds the changes committed so far into one row per key. Readers fold as they read; the reconciler's
    pass folds too, so the changes stay few when nobody scrapes."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            return await _fold(acquired)
    return await _fold(conn)


async def _fold(conn: Connection) -> None:
    # A fold another reader is running is left to it: the sum a reader sees is the same either way.
    async with conn.transaction():
        if await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _FOLD_LOCK):
            await conn.execute(_FOLD)


async def _read(conn: Connection) -> list[Count]:
    await _fold(conn)
    return many(Count, await conn.fetch(_READ))
