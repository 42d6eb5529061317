"""What the dashboard's overview and the /metrics scrape read from rows: recent deliveries, the last hour by
minute, and delivery latency. Totals by outcome come from the counts kept on write (store.tally)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor


@dataclass(frozen=True)
class MinuteCount:
    """Notifications accepted in one minute under one key (a channel or a priority)."""

    minute: datetime
    key: str
    n: int


@dataclass(frozen=True)
class LastHour:
    now: datetime  # the current minute, truncated: the last bucket
    by_channel: list[MinuteCount]
    by_priority: list[MinuteCount]


@dataclass(frozen=True)
class Latency:
    """Accept-to-delivered seconds over the last hour; None when nothing was delivered in it."""

    p50: float | None
    p95: float | None
    p99: float | None


async def delivered_last_5m(conn: Executor) -> int:
    """Deliveries of the last five minutes, counted from rows through their index."""
    recent: int = await conn.fetchval(
        "SELECT count(*) FROM notification WHERE delivered_at > now() - interval '5 minutes'")
    return recent


async def last_hour(conn: Executor) -> LastHour:
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
    now: datetime = await conn.fetchval("SELECT date_trunc('minute', now())")
    return LastHour(now=now, by_channel=many(MinuteCount, channels), by_priority=many(MinuteCount, priorities))


async def latency_last_hour(conn: Executor) -> Latency:
    """Over the last hour's deliveries only, so the scrape's cost does not grow with history."""
    latency = one(Latency, await conn.fetchrow(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY s) AS p95,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99
           FROM (SELECT extract(epoch FROM delivered_at - created_at) AS s FROM notification
                 WHERE delivered_at > now() - interval '1 hour') t"""
    ))
    assert latency is not None  # an aggregate always answers one row
    return latency

