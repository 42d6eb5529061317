"""Announcing new outbox rows to the workers' starters after the accepts that wrote them committed.

A NOTIFY inside the accepting transaction would make every accept wait its turn for PostgreSQL's one
database-wide notify lock, held until the commit is flushed (`028_start_announced_after_commit.sql`). The API's
connections therefore skip the insert trigger's NOTIFY, and the API calls `poke()` after each accept instead:
one NOTIFY at a time goes out, covering every accept poked before it was sent. A NOTIFY that fails or is lost
(the API stops between the commit and it) delays a start until the starters' next poll, and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from store.outbox import NOTIFY_CHANNEL

log = logging.getLogger("herald.api")

# The connection setting the insert trigger reads: this connection's accepts are announced after commit.
SETTING = {"herald.start_announce": "after_commit"}
# Not flushed before it answers: the announcement is a wake-up, and nothing is lost with it.
_ANNOUNCE = (f"BEGIN; SET LOCAL synchronous_commit TO off; SELECT pg_notify('{NOTIFY_CHANNEL}', ''); COMMIT")
_RETRY_S = 1.0


class StartAnnouncer:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool
        self._pending = asyncio.Event()
        self.sent = 0  # announcements made: a test's window on the coalescing

    def poke(self) -> None:
        """After a commit that wrote outbox rows: they are announced soon, without waiting here."""
        self._pending.set()

    async def run(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()  # rows committed from here on need the next announcement
            try:
                await self._pool.execute(_ANNOUNCE)
                self.sent += 1
            except Exception:  # PostgreSQL is away: the starters poll, and the next accept pokes again
                log.warning("could not announce new starts; workers find them on their next poll", exc_info=True)
                await asyncio.sleep(_RETRY_S)


@asynccontextmanager
async def announcing(pool: asyncpg.Pool) -> AsyncIterator[StartAnnouncer]:
    announcer = StartAnnouncer(pool)
    task = asyncio.create_task(announcer.run(), name="start announcer")
    try:
        yield announcer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
