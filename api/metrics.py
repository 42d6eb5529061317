"""Prometheus metrics of the API process, plus outcome counts read from the read model at scrape time.

Outcomes are counted in PostgreSQL rather than in process memory, so every API replica reports the same
totals whichever worker delivered the notification; the counts are kept as rows change (store/tally.py), so a
scrape costs the same at any table size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from store import notifications, tally

if TYPE_CHECKING:
    from store.db import Connection

CONTENT_TYPE = CONTENT_TYPE_LATEST

registry = CollectorRegistry()
accepted = Counter("herald_notifications_accepted_total", "Notifications accepted by this API process",
                   ["channel", "priority"], registry=registry)
accept_latency = Histogram("herald_accept_latency_seconds", "Time to accept a notification",
                           registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
by_status = Gauge("herald_notifications", "Notifications by current status, channel and priority",
                  ["status", "channel", "priority"], registry=registry)
attempts_failed = Gauge("herald_delivery_attempts_failed", "Failed delivery attempts (each one retried or "
                        "dead-lettered)", ["channel"], registry=registry)
dlq_size = Gauge("herald_dlq_size", "Deliveries parked in the dead-letter queue", registry=registry)
end_to_end = Gauge("herald_end_to_end_latency_seconds", "Accept-to-delivered latency quantiles over the "
                   "last hour", ["quantile"], registry=registry)


async def render(pool: asyncpg.Pool) -> bytes:
    async with pool.acquire() as conn:
        return await render_on(conn)


async def render_on(conn: Connection) -> bytes:
    """The scrape on one connection: counts kept on write (store.tally), the open dead letters through their
    partial index, and latency over the last hour's deliveries only."""
    counts = await tally.read(conn)
    parked = await notifications.open_dead_letter_count(conn)
    latency = await conn.fetchrow(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY s) AS p95,
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99
           FROM (SELECT extract(epoch FROM delivered_at - created_at) AS s FROM notification
                 WHERE delivered_at > now() - interval '1 hour') t"""
    )
    by_status.clear()
    attempts_failed.clear()
    for c in counts:
        if c.kind == "delivery":
            by_status.labels(c.status, c.channel, c.priority).set(c.n)
        elif c.kind == "failed_attempt":
            attempts_failed.labels(c.channel).set(c.n)
    dlq_size.set(parked)
    for q in ("p50", "p95", "p99"):
        end_to_end.labels(q).set(float(latency[q]) if latency and latency[q] is not None else 0.0)
    return bytes(generate_latest(registry))
