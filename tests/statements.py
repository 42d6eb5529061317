"""Counting what a use case sends to PostgreSQL: each statement through the pool is one round trip."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery


class CountingPool:
    """The pool, counting the statements sent through it. Anything else it is asked for (a connection of its
    own, a transaction) fails the test: the count would not see into it."""

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._pool, name)
        if name not in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
            raise AssertionError(f"pool.{name} was used, which this count does not see into")

        async def counted(query: str, *args: Any, **kwargs: Any) -> Any:
            self.statements.append(query)
            return await call(query, *args, **kwargs)
        return counted


class CountingSessions(CountingPool):
    """CountingPool that also lends connections and counts every statement sent on them, in order, `BEGIN` and
    `COMMIT` included (a transaction costs those two round trips as well)."""

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[Any]]:
        def logged(query: LoggedQuery) -> None:
            if not _introspection(query.query):
                self.statements.append(query.query)
        async with self._pool.acquire() as conn:
            conn.add_query_logger(logged)
            try:
                yield conn
            finally:
                conn.remove_query_logger(logged)


def _introspection(query: str) -> bool:
    """asyncpg's lookup of the types a connection has not met yet (with jit off around it): once per connection
    and type, not part of the use case, and absent from a connection the pool has lent before."""
    text = " ".join(query.split())
    return ("typeinfo_tree" in text or text.startswith("SELECT current_setting('jit') AS cur")
            or text.startswith("SELECT set_config('jit', $1, false)"))
