"""Retention's side effects: delete what has aged past HERALD_RETENTION_DAYS, a batch at a time (store/retention.py).

Run by RetentionWorkflow from a Temporal Schedule. Every batch commits on its own, so a pass cut short (a worker
restart, a timeout) loses nothing: the next attempt or the next pass picks up what is left. After each batch the
pass rests, so that its statements take only HERALD_RETENTION_DUTY of its time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import asyncpg
from temporalio import activity

from core.settings import Settings
from store import retention

log = logging.getLogger("herald.retention")
MAX_REST_S = 30.0  # well inside the workflow's heartbeat timeout
T = TypeVar("T")


@dataclass
class RetentionInput:
    # Rows per statement. A statement is what an accept beside it waits behind: at 1,000 rows, accept p99 at 100/s
    # during the deletion was 1.01, 1.51, 1.19 and 0.89 x its value without in four runs; at 200, 0.80 and 0.98 x,
    # deleting as fast (485 to 879 rows/s against 500 to 750; make bench --only retention, 2026-12-02).
    limit: int = 200
    # None: HERALD_RETENTION_DAYS of the worker that runs the pass, so changing it needs no new schedule.
    days: float | None = None


@dataclass
class RetentionResult:
    notifications: int
    inbox_items: int
    status_events: int


class RetentionActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self._pool = pool
        self._settings = settings
        self._sleep = sleep
        self._clock = clock

    async def _paced(self, statement: Awaitable[T]) -> T:
        started = self._clock()
        result = await statement
        duty = self._settings.retention_duty
        if duty < 1:
            await self._sleep(min((self._clock() - started) * (1 - duty) / duty, MAX_REST_S))
        return result

    @activity.defn(name="delete_expired")
    async def delete_expired(self, inp: RetentionInput) -> RetentionResult:
        days = self._settings.retention_days if inp.days is None else inp.days
        if not days:
            return RetentionResult(notifications=0, inbox_items=0, status_events=0)
        cutoff = datetime.now(UTC) - timedelta(days=days)
        async with self._pool.acquire() as conn:
            events = items = notifications = 0
            while (n := await self._paced(retention.delete_delivered_status_events(conn, cutoff, inp.limit))) > 0:
                events += n
                activity.heartbeat("status_event", events)
            while (n := await self._paced(retention.delete_read_inbox_items(conn, cutoff, inp.limit))) > 0:
                items += n
                activity.heartbeat("inbox_item", items)
            after = (datetime.min.replace(tzinfo=UTC), "")
            while (page := await self._paced(
                    retention.delete_notifications(conn, cutoff, after, inp.limit))) is not None:
                notifications += page.deleted
                after = (page.updated_at, page.id)
                activity.heartbeat("notification", notifications)
        result = RetentionResult(notifications=notifications, inbox_items=items, status_events=events)
        log.info("retention pass", extra={"cutoff": cutoff.isoformat(), "notifications": notifications,
                                          "inbox_items": items, "status_events": events})
        return result
