"""Migrations: applied in order, each exactly once, recorded, even with two runners starting together."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from store.migrate import MIGRATIONS_DIR, load_migrations, migrate, migrate_url
from tests.conftest import new_database


async def test_fresh_database_gets_every_migration_once_and_records_it(pg_server: Any) -> None:
    url = await new_database(pg_server, f"mig_{uuid.uuid4().hex[:8]}")
    applied = await migrate_url(url)
    expected = [m.version for m in load_migrations()]
    assert applied == expected
    conn = await asyncpg.connect(url)
    try:
        recorded = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migration ORDER BY 1")]
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    finally:
        await conn.close()
    assert recorded == expected
    assert {"template", "template_version", "app_user", "notification", "delivery", "inbox_item",
            "dead_letter", "notification_event", "delivery_attempt"} <= tables
    # A second run finds nothing to do.
    assert await migrate_url(url) == []


async def test_two_runners_starting_together_apply_each_migration_once(pg_server: Any, tmp_path: Path) -> None:
    url = await new_database(pg_server, f"mig_{uuid.uuid4().hex[:8]}")
    # A slow migration widens the window in which both runners would apply it without the lock.
    for m in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / m.name).write_text(m.read_text())
    (tmp_path / "900_slow.sql").write_text(
        "SELECT pg_sleep(0.5); CREATE TABLE slow_marker (n integer); INSERT INTO slow_marker VALUES (1);"
    )
    conns = [await asyncpg.connect(url) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c, tmp_path) for c in conns))
        assert sorted(len(r) for r in results) == [0, len(load_migrations(tmp_path))]
        assert await conns[0].fetchval("SELECT count(*) FROM slow_marker") == 1
        assert await conns[0].fetchval("SELECT count(*) FROM schema_migration WHERE version = 900") == 1
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_migration_is_rolled_back_and_not_recorded(pg_server: Any, tmp_path: Path) -> None:
    url = await new_database(pg_server, f"mig_{uuid.uuid4().hex[:8]}")
    (tmp_path / "001_good.sql").write_text("CREATE TABLE good (n integer);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (n integer); SELECT no_such_function();")
    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, tmp_path)
        assert [r["version"] for r in await conn.fetch("SELECT version FROM schema_migration")] == [1]
        assert await conn.fetchval("SELECT to_regclass('half')") is None
    finally:
        await conn.close()


def test_duplicate_migration_numbers_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(RuntimeError, match="duplicate"):
        load_migrations(tmp_path)
