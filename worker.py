"""Runs one Herald worker: `python worker.py`. Several may run at once against the same task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.deliver import DeliveryActivities
from activities.record import RecordActivities
from activities.render import RenderActivities
from core.settings import Settings, get_settings
from core.temporal import connect, ensure_search_attributes
from providers.registry import build_providers
from store.db import create_pool, database_url
from workflows.notification import NotificationWorkflow

log = logging.getLogger("herald.worker")


def activities_for(pool: asyncpg.Pool) -> Sequence[Any]:
    render = RenderActivities(pool)
    deliver = DeliveryActivities(pool, build_providers(pool))
    record = RecordActivities(pool)
    return [render.render, deliver.deliver, record.record_status, record.dead_letter,
            record.resolve_dead_letter]


def build_worker(client: Client, pool: asyncpg.Pool, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[NotificationWorkflow],
        activities=activities_for(pool),
        # In-flight activities get time to finish on SIGTERM instead of failing mid-send.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run(settings: Settings) -> None:
    pool = await create_pool(database_url(settings), min_size=settings.db_pool_min,
                             max_size=settings.db_pool_max)
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    worker = build_worker(client, pool, settings.task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_target)
    async with worker:
        await stop.wait()
        log.info("worker draining")
    await pool.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(get_settings()))


if __name__ == "__main__":
    main()
