"""The feed's first page with 10,000 items in one user's inbox reads about one page of rows, not the whole inbox.

The work is asserted from PostgreSQL's own account of the query (EXPLAIN ANALYZE), never from a clock: the time
of `GET /v1/me/feed` at this size is measured by `python -m bench.pages`, beside the other pages."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from store import feed
from store.db import create_pool
from store.migrate import migrate_url
from tests.conftest import new_database

ITEMS = 10_000
PAGE = 51


@pytest.fixture
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    url = await new_database(pg_server, f"feed_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def _seed(pool: asyncpg.Pool, user: str) -> None:
    """One user with ITEMS items over the last month (a third read, a tenth archived), and 200 other users'."""
    now = datetime.now(UTC)
    notifications, items = [], []
    for i in range(ITEMS + 200):
        nid = f"feed-{i:06d}"
        owner = user if i < ITEMS else f"other-{i % 200}"
        created = now - timedelta(minutes=4 * (ITEMS - i))
        notifications.append((nid, f"k-{nid}", "h", f"w-{nid}", "delivered", owner, ["in_app"], "transactional",
                              ["news", "billing", None][i % 3], "t", 1, created, created))
        items.append((nid, owner, "Hi", f"Message {i}", created, created if i % 3 == 0 else None,
                      created if i % 10 == 0 else None))
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "notification", records=notifications,
            columns=["id", "idempotency_key", "request_hash", "workflow_id", "status", "user_id", "channels",
                     "priority", "category", "template", "template_version", "created_at", "updated_at"])
        await conn.copy_records_to_table(
            "inbox_item", records=items,
            columns=["notification_id", "user_id", "subject", "body", "created_at", "read_at", "archived_at"])
        await conn.execute("ANALYZE")


class _Recorder:
    """Stands in for a connection to catch the statement and arguments the store would send."""

    def __init__(self) -> None:
        self.sql = ""
        self.args: tuple[Any, ...] = ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


def _rows_read(plan: dict[str, Any], relation: str) -> int:
    """Rows the plan's scans of `relation` looked at: those they returned and those their filters dropped."""
    own = 0
    if plan.get("Relation Name") == relation:
        own = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return own + sum(_rows_read(child, relation) for child in plan.get("Plans", []))


async def test_the_first_page_reads_about_a_page_of_ten_thousand_items(own_pool: asyncpg.Pool) -> None:
    user = "feed-user"
    await _seed(own_pool, user)
    counts = await feed.counts(own_pool, user)
    assert counts.unread_count == sum(1 for i in range(ITEMS) if i % 3 and i % 10)  # what was seeded
    page = await feed.list_items(own_pool, user, status=None, category=None, after=None, limit=PAGE)
    assert [i.notification_id for i in page[:2]] == [f"feed-{ITEMS - 1:06d}", f"feed-{ITEMS - 2:06d}"]

    recorder = _Recorder()
    await feed.list_items(recorder, user, status=None, category=None, after=None, limit=PAGE)  # type: ignore[arg-type]
    explained = await own_pool.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {recorder.sql}", *recorder.args)
    plan = explained[0]["Plan"]  # the pool decodes json
    read = _rows_read(plan, "inbox_item")
    print(f"feed first page of {PAGE} from {ITEMS} items: {read} inbox rows read")
    # A tenth of the items are archived and skipped, so a page reads a few more rows than it shows.
    assert PAGE <= read <= 2 * PAGE, f"{read} inbox rows read for a page of {PAGE}"
