"""What the dashboard's overview counts: totals by outcome and the last hour by minute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store import tally

if TYPE_CHECKING:
    from store.db import Executor


async def totals(conn: Executor) -> dict[str, int]:
    """Totals by outcome from the counts kept on write (store.tally), so the overview costs the same at any
    table size; only the last five minutes' deliveries are counted from rows (through their index)."""
    by_status: dict[str, int] = {}
    failed_attempts = 0
    for c in await tally.read(conn):
        if c.kind == "notification":
            by_status[c.status] = by_status.get(c.status, 0) + c.n
        elif c.kind == "failed_attempt":
            failed_attempts += c.n

    def among(*statuses: str) -> int:
        return sum(by_status.get(s, 0) for s in statuses)

    recent = await conn.fetchval(
        "SELECT count(*) FROM notification WHERE delivered_at > now() - interval '5 minutes'")
    return {"accepted": sum(by_status.values()), "delivered": among("delivered"),
            "dead_lettered": among("dead_lettered"), "ended_otherwise": among("discarded", "canceled", "skipped"),
            "in_flight": among("accepted", "scheduled", "processing", "retrying"),
            "delivered_last_5m": int(recent), "failed_attempts": failed_attempts}


async def last_hour(conn: Executor) -> dict[str, Any]:
    """Notifications accepted in each of the last 60 minutes, split by channel and by priority."""
    channels = await conn.fetch(
        """SELECT date_trunc('minute', n.created_at) AS minute, c AS key, count(*)::int AS n
           FROM notification n CROSS JOIN unnest(n.channels) AS c
           WHERE n.created_at > date_trunc('minute', now()) - interval '59 minutes'
           GROUP BY 1, 2"""
    )
    priorities = await conn.fetch(
        """SELECT date_trunc('minute', created_at) AS minute, priority AS key, count(*)::int AS n
           FROM notification WHERE created_at > date_trunc('minute', now()) - interval '59 minutes'
           GROUP BY 1, 2"""
    )
    now = await conn.fetchval("SELECT date_trunc('minute', now())")
    return {"now": now, "by_channel": [dict(r) for r in channels], "by_priority": [dict(r) for r in priorities]}
