"""Runs one Herald worker: `python worker.py`. Several may run at once against the same task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
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
from providers.registry import Providers, build_providers
from store.db import create_pool, database_url
from workflows.notification import NotificationWorkflow

log = logging.getLogger("herald.worker")


def activities_for(pool: asyncpg.Pool, providers: Providers) -> Sequence[Any]:
    render = RenderActivities(pool)
    deliver = DeliveryActivities(pool, providers.chains)
    record = RecordActivities(pool)
    return [render.render, deliver.deliver, record.record_status, record.dead_letter,
            record.resolve_dead_letter]


@asynccontextmanager
async def herald_worker(client: Client, pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[Worker]:
    """A running worker with its providers; on exit it drains, then closes the providers' connections."""
    providers = build_providers(pool, settings)
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[NotificationWorkflow],
        activities=activities_for(pool, providers),
        # In-flight activities get time to finish on SIGTERM instead of failing mid-send.
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    try:
        async with worker:
            yield worker
    finally:
        await providers.aclose()


async def run(settings: Settings) -> None:
    pool = await create_pool(database_url(settings), min_size=settings.db_pool_min,
                             max_size=settings.db_pool_max)
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with herald_worker(client, pool, settings):
        log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_target)
        await stop.wait()
        log.info("worker draining")
    await pool.close()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(run(get_settings()))


if __name__ == "__main__":
    main()
