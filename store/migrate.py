"""Numbered SQL migrations, applied in order, each once, recorded in `schema_migration`.

A PostgreSQL advisory lock serialises runners, so two processes starting together apply each file once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: it names Herald's migration lock in pg_locks.
_LOCK_ID = 7_240_915_001

log = logging.getLogger("herald.migrate")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        number, _, name = path.stem.partition("_")
        migrations.append(Migration(int(number), name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in {directory}")
    return sorted(migrations, key=lambda m: m.version)


async def migrate(conn: asyncpg.Connection[Any], directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Applies the pending migrations; returns the versions this call applied."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migration (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migration")}
        for migration in load_migrations(directory):
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migration (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            log.info("applied migration %03d_%s", migration.version, migration.name)
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now


async def migrate_url(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def main() -> None:
    """`python -m store.migrate`: apply pending migrations to DATABASE_URL (or, with HERALD_EMBEDDED, the
    embedded database)."""
    import asyncio

    from core.settings import Settings
    from store.db import database_url, require_database

    settings = Settings()
    require_database(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    applied = asyncio.run(migrate_url(database_url(settings)))
    print(f"applied: {applied or 'nothing (up to date)'}")


if __name__ == "__main__":
    main()
