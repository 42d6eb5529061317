"""The FastAPI application: lifespan owns the pool and the Temporal client."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from api import errors, openapi, web
from api.inbox_cors import InboxCors
from api.limits import BodySizeLimit
from api.routes import (
    broadcasts,
    codec,
    dlq,
    feedback,
    health,
    inbox,
    integrations,
    keys,
    me,
    notifications,
    schedules,
    suppressions,
    templates,
    topics,
    users,
    webhooks,
)
from api.routes import layouts as layout_routes
from core import logs, pii, tracing
from core.settings import Settings, get_settings
from core.temporal import connect
from services import integrations as integration_service
from services import start_announcer
from services.accept_reads import AcceptReads
from services.feedback import Batches, FeedbackSource, FeedbackSources, sns_certificates
from services.integration_watch import watching
from store.db import create_pool, database_url, require_database
from store.inbox_feed import InboxFeed

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("herald.api")


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """`tracer_provider` overrides the one HERALD_OTLP_ENDPOINT would make (tests pass an in-memory one)."""
    settings = settings or get_settings()
    pii.install()
    tracer_provider = tracer_provider or tracing.provider_from_settings(settings, "herald-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        url = database_url(settings)
        # Accepts are announced to the workers after they commit (services/start_announcer.py).
        app.state.pool = await create_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                                           server_settings=start_announcer.SETTING)
        # Lazy: the API comes up (and says so on /ready) while Temporal is down; a worker needs a connection.
        app.state.temporal = await connect(settings, lazy=not settings.eager_start,
                                           interceptors=tracing.client_interceptors(tracer_provider))
        app.state.accept_reads = AcceptReads()
        app.state.inbox_feed = InboxFeed(url)
        app.state.sns_certificates = sns_certificates(settings.sns_certificate_host)
        app.state.feedback_batches = Batches(app.state.pool, asyncio.Semaphore(settings.feedback_concurrency),
                                             settings.feedback_concurrency)
        try:
            async with AsyncExitStack() as running:
                app.state.start_announcer = await running.enter_async_context(
                    start_announcer.announcing(app.state.pool))
                # Accept checks channels against the integrations, and feedback its signatures with theirs: kept
                # current without a restart.
                await running.enter_async_context(watching(url, app.state.pool, settings,
                                                           feedback=feedback_sources))
                if settings.eager_start:  # the workflows this process starts run their first task here
                    from hosting.workers import herald_worker

                    # A pool of its own: what this worker writes to the outbox announces itself on commit.
                    worker_pool = await create_pool(url, min_size=1, max_size=settings.db_pool_max)
                    running.push_async_callback(worker_pool.close)
                    await running.enter_async_context(
                        herald_worker(app.state.temporal, worker_pool, settings, channels=[]))
                # Everything built so far lives as long as the process: kept out of the collector's full passes,
                # which otherwise walk all of it and hold every request meanwhile (up to 110 ms seen, 2026-12-01).
                gc.freeze()
                yield  # on shutdown the worker drains first: its steps still need the pool
        finally:
            await app.state.inbox_feed.close()
            await app.state.sns_certificates.client.aclose()
            await app.state.pool.close()
            if tracer_provider is not None:
                tracer_provider.shutdown()  # flushes the spans still batched

    app = FastAPI(
        title="Herald",
        version="1.0.0",
        summary="Durable notifications: every notification is a Temporal workflow.",
        lifespan=lifespan,
    )
    # Who may post delivery feedback, and with which secrets: the stored integrations of the vendors that send it,
    # kept by the integration watch.
    async def stored_source(integration_id: str) -> FeedbackSource | None:
        return await integration_service.feedback_source(app.state.pool, settings, integration_id)

    feedback_sources = FeedbackSources(stored_source)
    app.state.feedback_sources = feedback_sources
    errors.install(app)
    openapi.install(app)
    tracing.instrument_app(app, tracer_provider)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(InboxCors, allowed=settings.inbox_origins)
    # A request is matched against each route in turn, and each miss costs a few microseconds (FastAPI matches
    # included routers lazily): the two paths that take volume, vendors' callbacks and accepts, are tried first,
    # and documented in their place below. Neither shares a path with another router, so no match changes.
    for hot in (feedback, notifications):
        app.include_router(hot.router, include_in_schema=False)
    for module in (health, templates, users, topics, notifications, broadcasts, schedules, dlq, inbox, keys,
                   codec, webhooks, suppressions, feedback, me):
        app.include_router(module.router)
    app.include_router(layout_routes.router)
    app.include_router(codec.ui_router, include_in_schema=False)
    app.include_router(integrations.router)
    web.install(app)
    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory api.app:app`. The process's logging is set up here, not in
    create_app, so tests that build apps keep pytest's log capture."""
    settings = get_settings()
    require_database(settings)
    logs.configure(settings)
    return create_app(settings)
