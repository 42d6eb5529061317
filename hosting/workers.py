"""The Temporal workers a Herald process hosts: which workflows and activities poll which task queue, with
the status relay beside them. `main` is the worker process (`python worker.py`, `herald worker`); the API
hosts them too when HERALD_EAGER_START has it run the first task of the workflows it starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import asyncpg
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.worker import FixedSizeSlotSupplier, UnsandboxedWorkflowRunner, Worker, WorkerTuner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.audience import AudienceActivities
from activities.broadcast import BroadcastActivities
from activities.deliver import DeliveryActivities
from activities.digest import DigestActivities
from activities.prepare import PrepareActivities
from activities.reconcile import ReconcileActivities, ReconcileInput
from activities.record import RecordActivities
from activities.render import RenderActivities
from activities.retention import RetentionActivities, RetentionInput
from activities.schedules import ScheduleActivities
from activities.snooze import SnoozeActivities
from activities.status_webhooks import StatusWebhookActivities
from core import logs, tracing
from core.models import Channel, delivery_task_queue
from core.secrets import webhook_secret
from core.settings import Settings, get_settings
from core.temporal import connect, ensure_search_attributes, metrics_runtime
from core.workflow_ids import (
    reconcile_schedule_id,
    reconcile_workflow_id,
    retention_schedule_id,
    retention_workflow_id,
)
from hosting.slots import WorkflowSlots
from providers.egress import Allowlist
from providers.registry import build_providers
from services.integration_watch import watching
from services.outbox import START_BATCH, Starter
from services.status_relay import StatusRelay
from store.db import create_pool, database_url, require_database
from workflows.broadcast import BroadcastWorkflow
from workflows.digest import DigestWorkflow
from workflows.notification import NotificationWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.retention import RetentionWorkflow
from workflows.scheduled import ScheduledBroadcastWorkflow
from workflows.snooze import SnoozeWorkflow
from workflows.status_webhook import StatusWebhookWorkflow

log = logging.getLogger("herald.worker")

# Often enough that each pass has an hour's worth to delete, not a day's.
RETENTION_EVERY = timedelta(hours=1)


@asynccontextmanager
async def herald_worker(client: Client, pool: asyncpg.Pool, settings: Settings, *, workflows: bool = True,
                        channels: Sequence[str] | None = None,
                        relay_database_url: str | None = None) -> AsyncIterator[None]:
    """A running worker with its providers; on exit it drains, then closes the providers' connections.

    Workflows, rendering and bookkeeping run on the main task queue; deliveries on one queue per channel,
    where HERALD_RATE_LIMITS sets Temporal's server-side rate limit (it holds across all workers).
    `workflows=False` or a subset of `channels` runs only those parts (a delivery-only worker for one channel).
    `relay_database_url` runs the status relay too (worker processes do; an API that runs workflows does not).
    A worker that runs workflows starts them from the outbox too, as many at a time as it has free workflow
    slots (HERALD_WORKFLOW_SLOTS), eagerly: their first task runs here.
    """
    providers = build_providers(pool, settings)
    # Changes are announced on a connection of the watch's own, which needs the URL; without one it polls.
    listen_url = settings.database_url or relay_database_url or (database_url(settings) if settings.embedded
                                                                 else None)
    watch = watching(listen_url, pool, settings, providers)
    render, record = RenderActivities(pool, settings.default_locale), RecordActivities(pool)
    audience, prepare = AudienceActivities(pool), PrepareActivities(pool, settings.default_locale)
    deliver = DeliveryActivities(pool, providers.chains, providers.chains.rates)
    # In-flight activities get time to finish on SIGTERM instead of failing mid-send.
    drain = timedelta(seconds=settings.graceful_shutdown_s)
    fan_out = BroadcastActivities(pool, client)
    reconcile = ReconcileActivities(pool, client, settings)
    digest = DigestActivities(pool, client, settings)
    hooks = StatusWebhookActivities(pool, providers.status_http, webhook_secret(settings),
                                    Allowlist.parse(settings.webhook_allowed_hosts), settings.webhook_timeout_s)
    scheduled = ScheduleActivities(pool, settings)
    retention = RetentionActivities(pool, settings)
    slots = WorkflowSlots(settings.workflow_slots)
    main = Worker(client, task_queue=settings.task_queue,
                  workflows=[NotificationWorkflow, BroadcastWorkflow, DigestWorkflow, ReconcileWorkflow,
                             StatusWebhookWorkflow, ScheduledBroadcastWorkflow, RetentionWorkflow,
                             SnoozeWorkflow],
                  # deliver too: channels without a rate limit deliver in a local activity on this worker.
                  activities=[audience.check_audience, render.render, prepare.prepare, deliver.deliver,
                              record.record_status,
                              record.dead_letter, record.resolve_dead_letter, record.find_receipts,
                              record.is_read,
                              fan_out.prepare_page, fan_out.start_page, fan_out.record_status,
                              fan_out.cancel_recipients, digest.close_digest, reconcile.start_unstarted,
                              hooks.post_status_event, hooks.dead_letter, hooks.resolve, scheduled.prepare_fire,
                              retention.delete_expired, SnoozeActivities(pool).wake],
                  graceful_shutdown_timeout=drain,
                  # The SDK's defaults but for workflow tasks, whose slots the outbox starter counts.
                  tuner=WorkerTuner.create_composite(
                      workflow_supplier=slots, activity_supplier=FixedSizeSlotSupplier(100),
                      local_activity_supplier=FixedSizeSlotSupplier(100), nexus_supplier=FixedSizeSlotSupplier(100)),
                  workflow_runner=SandboxedWorkflowRunner() if settings.workflow_sandbox
                  else UnsandboxedWorkflowRunner())
    limits = settings.channel_rate_limits
    channel_workers = [
        Worker(client, task_queue=delivery_task_queue(settings.task_queue, channel), activities=[deliver.deliver],
               max_task_queue_activities_per_second=limits.get(channel), graceful_shutdown_timeout=drain,
               max_concurrent_activity_task_polls=2, max_concurrent_activities=settings.max_concurrent_deliveries)
        for channel in (channels if channels is not None else [c.value for c in Channel])
    ]
    background: list[asyncio.Task[None]] = []
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(watch)  # before any worker: a first delivery sees the integrations
            for worker in [main] if workflows else []:
                await stack.enter_async_context(worker)
            for worker in channel_workers:
                await stack.enter_async_context(worker)
            if workflows:
                starter = Starter(pool, client, settings, slots.startable,
                                  batch=min(START_BATCH, max(1, settings.workflow_slots // 10)))
                background.append(asyncio.create_task(starter.run()))
            if workflows and relay_database_url:
                background.append(asyncio.create_task(StatusRelay(relay_database_url, client, settings).run()))
            try:
                yield
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
    finally:
        await providers.aclose()


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> None:
    """Creates the reconciler's schedule once per task queue (every worker tries; the first one wins)."""
    if not settings.reconcile_every_s:
        return
    action = ScheduleActionStartWorkflow(ReconcileWorkflow.run, ReconcileInput(),
                                         id=reconcile_workflow_id(settings.task_queue), task_queue=settings.task_queue)
    await _create_once(client, reconcile_schedule_id(settings.task_queue), action,
                       timedelta(seconds=settings.reconcile_every_s))


async def ensure_retention_schedule(client: Client, settings: Settings) -> None:
    """Creates retention's hourly schedule once per task queue (every worker tries; the first one wins). The
    pass reads HERALD_RETENTION_DAYS when it runs, so changing it needs no new schedule; 0 turns it off."""
    if not settings.retention_days:
        return
    action = ScheduleActionStartWorkflow(RetentionWorkflow.run, RetentionInput(),
                                         id=retention_workflow_id(settings.task_queue), task_queue=settings.task_queue)
    await _create_once(client, retention_schedule_id(settings.task_queue), action, RETENTION_EVERY)


async def _create_once(client: Client, schedule_id: str, action: ScheduleActionStartWorkflow,
                       every: timedelta) -> None:
    """A schedule starting `action` every `every`, a fire skipped while the last one still runs."""
    schedule = Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP))
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        pass


async def run(settings: Settings) -> None:
    url = database_url(settings)
    pool = await create_pool(url, min_size=settings.db_pool_min,
                             max_size=settings.db_pool_max)
    provider = tracing.provider_from_settings(settings, "herald-worker")
    client = await connect(settings, runtime=metrics_runtime(settings),
                           interceptors=tracing.client_interceptors(provider))
    await ensure_search_attributes(client, settings.temporal_namespace)
    await ensure_reconcile_schedule(client, settings)
    await ensure_retention_schedule(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with herald_worker(client, pool, settings, relay_database_url=url):
        log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_target,
                 extra={"task_queue": settings.task_queue})
        await stop.wait()
        log.info("worker draining")
    await pool.close()
    if provider is not None:
        provider.shutdown()  # flushes the spans still batched


def lower_priority(settings: Settings) -> None:
    """Before any thread starts (the SDK's core runs threads of its own), so that all of them inherit it."""
    if settings.worker_nice:
        os.nice(settings.worker_nice)


def main() -> None:
    settings = get_settings()
    require_database(settings)
    lower_priority(settings)
    logs.configure(settings)
    if settings.uvloop:
        import uvloop

        uvloop.run(run(settings))
    else:
        asyncio.run(run(settings))
