"""Keeps a process's provider chains in step with the `integration` table, without a restart.

Each change is announced on `herald_integrations` (migration 020) and read at once; the table is also read
every HERALD_INTEGRATIONS_POLL_S, so an announcement lost with a dropped connection only delays the change.
The API process keeps its channel names current (what accept checks a request against) and the sources of
delivery feedback with their secrets opened; a worker also rebuilds its providers, and a send under way finishes
on the provider it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from core.sealing import secret_box
from core.settings import Settings
from providers.registry import Providers, publish_stored_names
from services.feedback import FeedbackSources
from services.integrations import feedback_sources_of, ready_of
from store import integrations
from store.integrations import NOTIFY_CHANNEL

log = logging.getLogger("herald.integrations")


class IntegrationWatch:
    def __init__(self, url: str | None, pool: asyncpg.Pool, settings: Settings, providers: Providers | None = None,
                 feedback: FeedbackSources | None = None):
        self._url = url
        self._pool = pool
        self._settings = settings
        self._providers = providers
        self._feedback = feedback
        self._box = secret_box(settings)
        self._changed = asyncio.Event()

    async def reload(self) -> None:
        rows = await integrations.list_all(self._pool)
        ready, names = ready_of(rows, self._box)
        if self._providers is not None:
            self._providers.apply(ready, self._settings.public_url)
        publish_stored_names(self._settings, names)
        if self._feedback is not None:
            self._feedback.replace(feedback_sources_of(rows, self._box))

    def _on_notify(self, *_: Any) -> None:
        self._changed.set()

    async def run(self) -> None:
        conn: asyncpg.Connection[Any] | None = None
        try:
            while True:
                if self._url is not None and (conn is None or conn.is_closed()):
                    conn = await self._listen(self._url)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self._settings.integrations_poll_s)
                self._changed.clear()
                try:
                    await self.reload()
                except (asyncpg.PostgresError, OSError) as exc:
                    log.warning("integrations not reloaded: %s", type(exc).__name__)
                except Exception:  # the watch must outlive one bad reload: the next one may succeed
                    log.exception("integrations not reloaded")
        finally:
            if conn is not None:
                await conn.close()

    async def _listen(self, url: str) -> asyncpg.Connection[Any] | None:
        # A connection of its own: pooled connections are not reset and must not keep a LISTEN.
        try:
            conn: asyncpg.Connection[Any] = await asyncpg.connect(url)
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("not listening for integration changes (polling only): %s", type(exc).__name__)
            return None
        self._changed.set()  # anything committed while no one listened is read now
        return conn


@asynccontextmanager
async def watching(url: str | None, pool: asyncpg.Pool, settings: Settings, providers: Providers | None = None,
                   feedback: FeedbackSources | None = None) -> AsyncIterator[IntegrationWatch]:
    """The integrations loaded once before the block starts, then kept current while it runs."""
    watch = IntegrationWatch(url, pool, settings, providers, feedback)
    await watch.reload()
    task = asyncio.create_task(watch.run())
    try:
        yield watch
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
