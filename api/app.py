"""The FastAPI application: lifespan owns the pool and the Temporal client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, openapi
from api.limits import BodySizeLimit
from api.routes import broadcasts, codec, dlq, health, inbox, keys, notifications, templates, topics, users
from core import logs, pii
from core.settings import Settings, get_settings
from core.temporal import connect
from store.db import create_pool, database_url

log = logging.getLogger("herald.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    pii.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.pool = await create_pool(database_url(settings), min_size=settings.db_pool_min,
                                           max_size=settings.db_pool_max)
        app.state.temporal = await connect(settings, lazy=True)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(
        title="Herald",
        version="1.0.0",
        summary="Durable notifications: every notification is a Temporal workflow.",
        lifespan=lifespan,
    )
    errors.install(app)
    openapi.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for module in (health, templates, users, topics, notifications, broadcasts, dlq, inbox, keys, codec):
        app.include_router(module.router)
    return app


def app() -> FastAPI:
    """uvicorn factory: `uvicorn --factory api.app:app`. The process's logging is set up here, not in
    create_app, so tests that build apps keep pytest's log capture."""
    settings = get_settings()
    logs.configure(settings)
    return create_app(settings)
