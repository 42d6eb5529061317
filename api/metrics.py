"""Prometheus metrics of the API process, plus outcome counts read from the read model at scrape time
(services/metrics.py: the same totals on every API replica, at the same cost at any table size)."""

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

from services import metrics

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
    """The scrape on one connection (services.metrics.scrape), as Prometheus text."""
    read = await metrics.scrape(conn)
    by_status.clear()
    attempts_failed.clear()
    for c in read.counts:
        if c.kind == "delivery":
            by_status.labels(c.status, c.channel, c.priority).set(c.n)
        elif c.kind == "failed_attempt":
            attempts_failed.labels(c.channel).set(c.n)
    dlq_size.set(read.open_dead_letters)
    for q, seconds in (("p50", read.latency.p50), ("p95", read.latency.p95), ("p99", read.latency.p99)):
        end_to_end.labels(q).set(seconds if seconds is not None else 0.0)
    return bytes(generate_latest(registry))
