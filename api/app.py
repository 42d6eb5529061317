"""The FastAPI application: lifespan owns the pool and the Temporal client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, web
from api.limits import BodySizeLimit
from api.routes import broadcasts, dlq, health, inbox, notifications, templates, topics, users
from core.settings import Settings, get_settings
from core.temporal import connect
from store.db import create_pool, database_url
from store.inbox_feed import InboxFeed

log = logging.getLogger("herald.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        url = database_url(settings)
        app.state.pool = await create_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        app.state.temporal = await connect(settings, lazy=True)
        app.state.inbox_feed = InboxFeed(url)
        try:
            yield
        finally:
            await app.state.inbox_feed.close()
            await app.state.pool.close()

    app = FastAPI(
        title="Herald",
        version="1.0.0",
        summary="Durable notifications: every notification is a Temporal workflow.",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for module in (health, templates, users, topics, notifications, broadcasts, dlq, inbox):
        app.include_router(module.router)
    web.install(app)
    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory api.app:app`."""
    return create_app()
