"""The asyncpg pool and where the database is: `DATABASE_URL`, or with `HERALD_EMBEDDED=true` an embedded
PostgreSQL (pgserver, from the `embedded` extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from core.settings import Settings

Pool = asyncpg.Pool
if TYPE_CHECKING:  # asyncpg's classes are generic only to the type checker
    from typing import TypeAlias

    # A connection of its own or one borrowed from the pool: repositories that need a transaction take this.
    Connection: TypeAlias = asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any]
    # Anything that runs one statement: repositories that need no transaction take this.
    Executor: TypeAlias = Connection | asyncpg.Pool


NO_DATABASE = ("no database: set DATABASE_URL to a PostgreSQL URI, or HERALD_EMBEDDED=true for an embedded "
               "PostgreSQL under HERALD_DATA_DIR (development only, needs the `embedded` extra)")


class NoDatabase(RuntimeError):
    """Neither DATABASE_URL nor HERALD_EMBEDDED: an unset URL must never quietly become a local database."""


def embedded_database_url(data_dir: Path) -> str:
    """Starts (or reuses) the embedded PostgreSQL under `data_dir/pg` and returns its URI.

    pgserver keeps postgres running in a session of its own and shares it between processes; the process
    that started it stops it when the last user exits (cleanup_mode="stop").
    """
    import pgserver  # the `embedded` extra: production images do not have it

    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(  # type: ignore[attr-defined]
        pgdata, cleanup_mode="stop")
    return str(server.get_uri())


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    if settings.embedded:
        return embedded_database_url(settings.data_dir)
    raise NoDatabase(NO_DATABASE)


def require_database(settings: Settings) -> None:
    """Ends the process with one line on stderr when it has no database to use. Entry points call it before
    anything starts, so the operator reads the cause rather than a traceback."""
    if not settings.database_url and not settings.embedded:
        raise SystemExit(f"herald: {NO_DATABASE}")


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class _NoResetConnection(asyncpg.Connection):
    """Skips asyncpg's reset query on every release to the pool (a round trip each time, ~4% of a worker's
    CPU). Herald's code keeps no session state on pooled connections: no LISTEN, no SET, no advisory locks
    (the migration lock lives on a connection of its own)."""

    def get_reset_query(self) -> str:
        return ""


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10,
                      server_settings: dict[str, str] | None = None) -> Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection,
                                     connection_class=_NoResetConnection, server_settings=server_settings)
    assert pool is not None
    return pool
