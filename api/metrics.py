"""Prometheus metrics of the API process, plus outcome counts read from the read model at scrape time.

Outcomes are counted from PostgreSQL rather than in process memory, so every API replica reports the same
totals whichever worker delivered the notification.
"""

from __future__ import annotations

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

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
        rows = await conn.fetch(
            """SELECT n.status, d.channel, n.priority, count(*) AS n
               FROM notification n JOIN delivery d ON d.notification_id = n.id
               GROUP BY 1, 2, 3"""
        )
        failed = await conn.fetch(
            "SELECT channel, count(*) AS n FROM delivery_attempt WHERE outcome <> 'delivered' GROUP BY 1"
        )
        parked = await conn.fetchval("SELECT count(*) FROM dead_letter WHERE resolved_at IS NULL")
        latency = await conn.fetchrow(
            """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS p50,
                      percentile_cont(0.95) WITHIN GROUP (ORDER BY s) AS p95,
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY s) AS p99
               FROM (SELECT extract(epoch FROM delivered_at - created_at) AS s FROM notification
                     WHERE delivered_at > now() - interval '1 hour') t"""
        )
    by_status.clear()
    for r in rows:
        by_status.labels(r["status"], r["channel"], r["priority"]).set(r["n"])
    attempts_failed.clear()
    for r in failed:
        attempts_failed.labels(r["channel"]).set(r["n"])
    dlq_size.set(parked)
    for q in ("p50", "p95", "p99"):
        end_to_end.labels(q).set(float(latency[q]) if latency and latency[q] is not None else 0.0)
    return bytes(generate_latest(registry))
