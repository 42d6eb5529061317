"""What /metrics and the dashboard's overview show: outcome counts, open dead letters, latency, the last hour.

Outcomes are counted in PostgreSQL rather than in process memory, so every API replica reports the same
totals whichever worker delivered the notification; the counts are kept as rows change (store/tally.py), so a
scrape and the overview cost the same at any table size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.models import Channel, Priority
from store import dashboard, notifications, tally
from store.dashboard import Latency, MinuteCount
from store.tally import Count

if TYPE_CHECKING:
    from store.db import Executor

MINUTES = 60


@dataclass(frozen=True)
class Scrape:
    counts: list[Count]
    open_dead_letters: int
    latency: Latency


@dataclass(frozen=True)
class Totals:
    accepted: int
    delivered: int
    dead_lettered: int
    ended_otherwise: int
    in_flight: int
    delivered_last_5m: int
    failed_attempts: int


@dataclass(frozen=True)
class Series:
    """The overview chart: one bucket per minute of the last hour, per channel and per priority."""

    now: datetime
    minutes: list[datetime]
    by_channel: dict[str, list[int]]
    by_priority: dict[str, list[int]]


async def scrape(conn: Executor) -> Scrape:
    """Counts kept on write (store.tally), the open dead letters through their partial index, and latency over
    the last hour's deliveries only."""
    counts = await tally.read(conn)
    parked = await notifications.open_dead_letter_count(conn)
    return Scrape(counts=counts, open_dead_letters=parked, latency=await dashboard.latency_last_hour(conn))


async def totals(conn: Executor) -> Totals:
    """Totals by outcome from the counts kept on write, so the overview costs the same at any table size; only
    the last five minutes' deliveries are counted from rows (through their index)."""
    by_status: dict[str, int] = {}
    failed_attempts = 0
    for c in await tally.read(conn):
        if c.kind == "notification":
            by_status[c.status] = by_status.get(c.status, 0) + c.n
        elif c.kind == "failed_attempt":
            failed_attempts += c.n

    def among(*statuses: str) -> int:
        return sum(by_status.get(s, 0) for s in statuses)

    return Totals(accepted=sum(by_status.values()), delivered=among("delivered"),
                  dead_lettered=among("dead_lettered"), ended_otherwise=among("discarded", "canceled", "skipped"),
                  in_flight=among("accepted", "scheduled", "processing", "retrying"),
                  delivered_last_5m=await dashboard.delivered_last_5m(conn), failed_attempts=failed_attempts)


async def last_hour(conn: Executor) -> Series:
    """60 one-minute buckets ending now, per channel and per priority (zeros included)."""
    hour = await dashboard.last_hour(conn)
    minutes = [hour.now - timedelta(minutes=MINUTES - 1 - i) for i in range(MINUTES)]
    index = {m: i for i, m in enumerate(minutes)}

    def series(rows: list[MinuteCount], keys: list[str]) -> dict[str, list[int]]:
        out = {k: [0] * MINUTES for k in keys}
        for r in rows:
            if r.minute in index:
                out.setdefault(r.key, [0] * MINUTES)[index[r.minute]] += r.n
        # Only series with data get a legend entry; a quiet hour still shows one (empty) series, not a blank.
        busy = {k: v for k, v in out.items() if any(v)}
        return busy or {keys[0]: out[keys[0]]}

    return Series(now=hour.now, minutes=minutes,
                  by_channel=series(hour.by_channel, [c.value for c in Channel]),
                  by_priority=series(hour.by_priority, [p.value for p in Priority]))
