"""Accepting a notification from the API process: the accept service, timed and counted in this process's
Prometheus metrics (a repeat is not counted again)."""

from __future__ import annotations

import time

import asyncpg

from api import metrics
from core.settings import Settings
from services.accept import Caller, NotificationRequest
from services.accept import accept as accept_notification
from store.notifications import NotificationRecord


async def accept(pool: asyncpg.Pool, settings: Settings, body: NotificationRequest,
                 header_key: str | None, caller: Caller) -> tuple[int, NotificationRecord]:
    started = time.perf_counter()
    status, notification = await accept_notification(pool, settings, body, header_key, caller)
    if status == 202:
        for channel in notification.channels:
            metrics.accepted.labels(channel, notification.priority).inc()
        metrics.accept_latency.observe(time.perf_counter() - started)
    return status, notification
