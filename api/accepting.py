"""Accepting a notification from the API process: the accept service, timed and counted in this process's
Prometheus metrics (a repeat is not counted again), and what it wrote announced to the workers' starters."""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from api import metrics
from core.settings import Settings
from services.accept import Accepted, Caller, NotificationRequest
from services.accept import accept as accept_notification
from services.accept import accept_many as accept_notifications
from services.accept_reads import AcceptReads
from services.start_announcer import StartAnnouncer
from store.notifications import NotificationRecord


async def accept(pool: asyncpg.Pool, settings: Settings, body: NotificationRequest,
                 header_key: str | None, caller: Caller, starts: StartAnnouncer,
                 kept: AcceptReads | None = None) -> tuple[int, NotificationRecord]:
    started = time.perf_counter()
    status, notification = await accept_notification(pool, settings, body, header_key, caller, kept)
    if status == 202:
        starts.poke()
        for channel in notification.channels:
            metrics.accepted.labels(channel, notification.priority).inc()
        metrics.accept_latency.observe(time.perf_counter() - started)
    return status, notification


async def accept_many(pool: asyncpg.Pool, settings: Settings,
                      requests: Sequence[tuple[NotificationRequest, str | None]],
                      caller: Caller, starts: StartAnnouncer,
                      kept: AcceptReads | None = None) -> list[Accepted | Exception]:
    """A bulk request's items, accepted together: each accepted item waited as long as the batch took."""
    started = time.perf_counter()
    outcomes = await accept_notifications(pool, settings, requests, caller, kept)
    if any(isinstance(outcome, Accepted) and outcome.status == 202 for outcome in outcomes):
        starts.poke()
    elapsed = time.perf_counter() - started
    for outcome in outcomes:
        if isinstance(outcome, Accepted) and outcome.status == 202:
            for channel in outcome.notification.channels:
                metrics.accepted.labels(channel, outcome.notification.priority).inc()
            metrics.accept_latency.observe(elapsed)
    return outcomes
