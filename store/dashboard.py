"""What the dashboard's overview counts: totals by outcome and the last hour by minute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.db import Executor


async def totals(conn: Executor) -> dict[str, int]:
    row = await conn.fetchrow(
        """SELECT count(*) AS accepted,
                  count(*) FILTER (WHERE status = 'delivered') AS delivered,
                  count(*) FILTER (WHERE status = 'dead_lettered') AS dead_lettered,
                  count(*) FILTER (WHERE status IN ('discarded', 'canceled', 'skipped')) AS ended_otherwise,
                  count(*) FILTER (WHERE status IN ('accepted', 'scheduled', 'processing', 'retrying')) AS in_flight,
                  (SELECT count(*) FROM notification WHERE delivered_at > now() - interval '5 minutes')
                      AS delivered_last_5m,
                  (SELECT count(*) FROM delivery_attempt WHERE outcome <> 'delivered') AS failed_attempts
           FROM notification"""
    )
    assert row is not None
    return {k: int(v) for k, v in dict(row).items()}


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
