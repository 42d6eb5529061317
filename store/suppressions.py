"""Suppressions: (channel, address) pairs Herald never sends to. Addresses arrive here already normalized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor


@dataclass(frozen=True)
class SuppressionRecord:
    channel: str
    address: str
    reason: str
    source: str
    created_at: datetime


_COLUMNS = "channel, address, reason, source, created_at"


async def add(conn: Executor, *, channel: str, address: str, reason: str, source: str) -> SuppressionRecord:
    """Suppresses the address; one already suppressed keeps its first reason and source (a second bounce of a
    suppressed address says nothing new). Returns the row as stored."""
    row = await conn.fetchrow(
        f"""WITH added AS (
                INSERT INTO suppression (channel, address, reason, source) VALUES ($1, $2, $3, $4)
                ON CONFLICT (channel, address) DO NOTHING
                RETURNING {_COLUMNS}
            )
            SELECT {_COLUMNS} FROM added
            UNION ALL
            SELECT {_COLUMNS} FROM suppression
            WHERE channel = $1 AND address = $2 AND NOT EXISTS (SELECT 1 FROM added)""",
        channel, address, reason, source,
    )
    added = one(SuppressionRecord, row)
    assert added is not None, "the row was inserted or was there"
    return added


async def remove(conn: Executor, channel: str, address: str) -> bool:
    """True when there was such a suppression."""
    removed = await conn.fetchval(
        "DELETE FROM suppression WHERE channel = $1 AND address = $2 RETURNING 1", channel, address)
    return removed is not None


async def get(conn: Executor, channel: str, address: str) -> SuppressionRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM suppression WHERE channel = $1 AND address = $2",
                              channel, address)
    return one(SuppressionRecord, row)


async def list_page(conn: Executor, *, channel: str | None, address: str | None,
                    after: tuple[datetime, str, str] | None, limit: int) -> list[SuppressionRecord]:
    """Newest first, after the (created_at, channel, address) cursor."""
    at, after_channel, after_address = after if after else (None, None, None)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM suppression
            WHERE ($1::text IS NULL OR channel = $1) AND ($2::text IS NULL OR address = $2)
              AND ($3::timestamptz IS NULL OR (created_at, channel, address) < ($3, $4, $5))
            ORDER BY created_at DESC, channel DESC, address DESC LIMIT $6""",
        channel, address, at, after_channel, after_address, limit,
    )
    return many(SuppressionRecord, rows)
