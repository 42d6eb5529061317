"""Reads that must not grow with history: the /metrics scrape and the dashboard's totals cost the same at
50,000 notifications as at 1,000 and still match the real counts; a DLQ page reads no resolved dead letter.

Cost is measured as rows and blocks read in the scrape's transaction (pg_stat_xact_user_tables), not as time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import metrics
from core.ids import notification_id_for_key
from core.models import StatusChange
from core.workflow_ids import notification_workflow_id
from services import metrics as overview
from store import notifications, tally
from store.db import create_pool
from store.migrate import migrate_url
from tests.conftest import new_database

STATUSES = ["delivered"] * 6 + ["dead_lettered", "retrying", "accepted", "discarded", "canceled", "scheduled"]
CHANNELS = ["in_app", "sim", "email", "webhook"]
PRIORITIES = ["otp", "transactional", "marketing"]

# Calls of the tally trigger functions in the current transaction (with track_functions = 'pl').
TALLY_CALLS = """SELECT coalesce(sum(pg_stat_get_xact_function_calls(oid)), 0) FROM pg_proc
                 WHERE proname LIKE 'tally\\_%'"""

# Rows and blocks the current transaction has read from every table of ours, so far.
READ_SO_FAR = """SELECT coalesce(sum(seq_tup_read + coalesce(idx_tup_fetch, 0)
                                    + pg_stat_get_xact_blocks_fetched(relid)), 0)
                 FROM pg_stat_xact_user_tables"""


@pytest.fixture
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: its counts must be exactly what this test stored."""
    url = await new_database(pg_server, f"scale_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def seed(pool: asyncpg.Pool, start: int, stop: int) -> None:
    """Notifications start..stop-1, stored by COPY as two days old, each with its deliveries and an attempt."""
    old = datetime.now(UTC) - timedelta(days=2)
    rows, deliveries, attempts = [], [], []
    for i in range(start, stop):
        nid = f"scale-{i:07d}"
        status = STATUSES[i % len(STATUSES)]
        channels = [CHANNELS[i % len(CHANNELS)]] + (["email"] if i % 5 == 0 and i % len(CHANNELS) != 2 else [])
        rows.append((nid, f"key-{nid}", "h", f"notification-{nid}", status, channels, PRIORITIES[i % 3], "t", 1,
                     old, old, old + timedelta(seconds=1) if status == "delivered" else None))
        deliveries += [(nid, c, status) for c in channels]
        attempts.append((nid, channels[0], 1, old, "delivered" if status == "delivered" else "failed"))
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "notification", records=rows,
            columns=["id", "idempotency_key", "request_hash", "workflow_id", "status", "channels", "priority",
                     "template", "template_version", "created_at", "updated_at", "delivered_at"])
        await conn.copy_records_to_table("delivery", records=deliveries,
                                         columns=["notification_id", "channel", "status"])
        await conn.copy_records_to_table("delivery_attempt", records=attempts,
                                         columns=["notification_id", "channel", "attempt", "at", "outcome"])
    await pool.execute("ANALYZE")


async def cost(pool: asyncpg.Pool, scrape: Callable[[Any], Awaitable[object]]) -> int:
    async with pool.acquire() as conn:
        await scrape(conn)  # a first scrape folds the changes the seed left, as the previous scrape would have
        async with conn.transaction():
            before = await conn.fetchval(READ_SO_FAR)
            await scrape(conn)
            return int(await conn.fetchval(READ_SO_FAR)) - int(before)


async def scrape_metrics(conn: Any) -> object:
    return await metrics.render_on(conn)


async def real_counts(pool: asyncpg.Pool) -> dict[str, Any]:
    by_delivery = await pool.fetch(
        """SELECT n.status, d.channel, n.priority, count(*) AS n
           FROM notification n JOIN delivery d ON d.notification_id = n.id GROUP BY 1, 2, 3""")
    failed = await pool.fetch("SELECT channel, count(*) AS n FROM delivery_attempt WHERE outcome <> 'delivered' "
                              "GROUP BY 1")
    totals = await pool.fetchrow(
        """SELECT count(*) AS accepted,
                  count(*) FILTER (WHERE status = 'delivered') AS delivered,
                  count(*) FILTER (WHERE status = 'dead_lettered') AS dead_lettered,
                  count(*) FILTER (WHERE status IN ('discarded', 'canceled', 'skipped')) AS ended_otherwise,
                  count(*) FILTER (WHERE status IN ('accepted', 'scheduled', 'processing', 'retrying')) AS in_flight,
                  (SELECT count(*) FROM notification WHERE delivered_at > now() - interval '5 minutes')
                      AS delivered_last_5m,
                  (SELECT count(*) FROM delivery_attempt WHERE outcome <> 'delivered') AS failed_attempts
           FROM notification""")
    assert totals is not None
    return {"by_status": {(r["status"], r["channel"], r["priority"]): float(r["n"]) for r in by_delivery},
            "failed": {r["channel"]: float(r["n"]) for r in failed},
            "totals": {k: int(v) for k, v in dict(totals).items()}}


async def shown_counts(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        text = (await metrics.render_on(conn)).decode()
    by_status, failed = {}, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "herald_notifications" and sample.value:
                by_status[(sample.labels["status"], sample.labels["channel"], sample.labels["priority"])] = sample.value
            if sample.name == "herald_delivery_attempts_failed" and sample.value:
                failed[sample.labels["channel"]] = sample.value
    return {"by_status": by_status, "failed": failed, "totals": asdict(await overview.totals(pool))}


@pytest.mark.timeout(600)
async def test_a_scrape_and_the_totals_cost_the_same_at_50000_notifications_as_at_1000(
        own_pool: asyncpg.Pool) -> None:
    await seed(own_pool, 0, 1_000)
    small = {"metrics": await cost(own_pool, scrape_metrics), "totals": await cost(own_pool, overview.totals)}
    assert await shown_counts(own_pool) == await real_counts(own_pool)

    await seed(own_pool, 1_000, 50_000)
    large = {"metrics": await cost(own_pool, scrape_metrics), "totals": await cost(own_pool, overview.totals)}
    assert large["metrics"] <= small["metrics"] and large["totals"] <= small["totals"], (small, large)
    assert await shown_counts(own_pool) == await real_counts(own_pool)


async def test_counts_follow_inserts_status_changes_and_deletes(own_pool: asyncpg.Pool) -> None:
    await seed(own_pool, 0, 300)
    # The API's own insert: the notification and its deliveries in one statement.
    for i in range(3):
        key = f"live-{i}"
        nid = notification_id_for_key(key)
        async with own_pool.acquire() as conn:
            await notifications.insert(conn, notifications.NewNotification(
                id=nid, idempotency_key=key, request_hash="h",
                workflow_id=notification_workflow_id(nid), status="accepted",
                user_id=None, recipient={"sim": "ok"}, channels=["sim", "in_app"], priority="otp", category=None,
                template="t", template_version=1, data={}, send_at=None))
    await own_pool.execute("UPDATE notification SET status = 'delivered', delivered_at = now() "
                           "WHERE status IN ('accepted', 'retrying')")
    await own_pool.execute("UPDATE notification SET priority = 'marketing' WHERE id LIKE 'scale-00000%'")
    await own_pool.execute("UPDATE notification SET updated_at = now()")  # no count moves
    await own_pool.execute("INSERT INTO delivery_attempt (notification_id, channel, attempt, outcome) "
                           "SELECT id, 'sim', 9, 'failed' FROM notification WHERE id LIKE 'scale-0000%'")
    await own_pool.execute("DELETE FROM notification WHERE id IN ('scale-0000007', 'scale-0000010')")
    await own_pool.execute("DELETE FROM delivery WHERE notification_id = 'scale-0000020' AND channel = 'email'")
    await own_pool.execute("DELETE FROM delivery_attempt WHERE notification_id = 'scale-0000013'")
    assert await shown_counts(own_pool) == await real_counts(own_pool)
    # Reading twice (the second finds everything folded) shows the same.
    assert await shown_counts(own_pool) == await real_counts(own_pool)
    assert all(c.n > 0 for c in await tally.read(own_pool))


async def live(pool: asyncpg.Pool, key: str) -> str:
    """A notification as the API stores it, `otp`, on sim and in_app."""
    nid = notification_id_for_key(key)
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid),
            status="accepted", user_id=None, recipient={"sim": "ok"}, channels=["sim", "in_app"], priority="otp",
            category=None, template="t", template_version=1, data={}, send_at=None))
    return nid


async def test_only_a_change_of_status_or_priority_runs_a_tally_trigger(own_pool: asyncpg.Pool) -> None:
    """The outbox's start_checked_at, a locale, a status set to what it was, an attempt's time: no tally trigger
    runs, and a delivered attempt appends no change. A status change still moves the counts, by exactly its rows."""
    await seed(own_pool, 0, 60)
    sending, other = await live(own_pool, "tally-sending"), await live(own_pool, "tally-other")
    await tally.fold(own_pool)
    async with own_pool.acquire() as conn:
        await conn.execute("SET track_functions = 'pl'")
        async with conn.transaction():
            await notifications.mark_start_checked(conn, [sending, other])
            await notifications.set_locale(conn, sending, "fr")
            await conn.execute("UPDATE notification SET updated_at = now(), status = status, priority = priority")
            await conn.execute("UPDATE delivery_attempt SET at = now()")
            assert await conn.fetchval(TALLY_CALLS) == 0
            # An attempt insert runs its statement trigger, which appends nothing for a delivered attempt.
            await notifications.record_delivered(conn, notification_id=other, channel="sim", attempt=1, finish=None)
            assert await conn.fetchval("SELECT count(*) FROM tally_change") == 0

            await notifications.apply_status_change(conn, StatusChange(
                notification_id=sending, status="processing", event="processing", at=datetime.now(UTC)))
            moves = await conn.fetch("SELECT kind, status, channel, priority, delta FROM tally_change")
        assert sorted(tuple(m) for m in moves) == [
            ("delivery", "accepted", "in_app", "otp", -1), ("delivery", "accepted", "sim", "otp", -1),
            ("delivery", "processing", "in_app", "otp", 1), ("delivery", "processing", "sim", "otp", 1),
            ("notification", "accepted", "", "otp", -1), ("notification", "processing", "", "otp", 1)]
        await conn.execute("UPDATE notification SET priority = 'marketing' WHERE id = $1", other)
        await conn.execute("UPDATE delivery_attempt SET outcome = 'delivered' WHERE notification_id = 'scale-0000006'")
        await conn.execute("UPDATE delivery_attempt SET channel = 'email' WHERE notification_id = 'scale-0000007'")
    assert await shown_counts(own_pool) == await real_counts(own_pool)


async def dead_letter_rows_read(conn: Any, channel: str | None) -> int:
    """Rows the DLQ's first page reads from dead_letter, in a custom plan and in the generic plan a prepared
    statement ends up with (the larger of the two)."""
    worst = 0
    for mode in ("force_custom_plan", "force_generic_plan"):
        await conn.execute(f"SET plan_cache_mode = {mode}")
        plan = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + notifications.DEAD_LETTER_PAGE,
                                   channel, 0, 50)
        plan = json.loads(plan) if isinstance(plan, str) else plan  # the pool may decode json itself
        read = 0
        stack = [plan[0]["Plan"]]
        while stack:
            node = stack.pop()
            stack.extend(node.get("Plans", []))
            if node.get("Relation Name") == "dead_letter" or "dead_letter" in node.get("Index Name", ""):
                read += node.get("Actual Rows", 0) * node.get("Actual Loops", 1) + node.get("Rows Removed by Filter", 0)
        worst = max(worst, read)
    await conn.execute("RESET plan_cache_mode")
    return worst


async def test_a_dlq_page_reads_only_unresolved_dead_letters(own_pool: asyncpg.Pool) -> None:
    """19,000 resolved dead letters, then 1,000 open ones (the newest, as they are in life): in id order the
    table's primary key would walk the whole resolved history before the first open one."""
    await seed(own_pool, 0, 20_000)
    async with own_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO dead_letter (notification_id, channel, error, attempts, dead_lettered_at, resolved_at,
                                        resolution)
               SELECT id, channels[1], 'x', 3, created_at, created_at + interval '1 minute', 'discarded'
               FROM notification WHERE id < 'scale-0019000' ORDER BY id""")
        await conn.execute(
            """INSERT INTO dead_letter (notification_id, channel, error, attempts, dead_lettered_at)
               SELECT id, channels[1], 'x', 3, created_at FROM notification WHERE id >= 'scale-0019000' ORDER BY id""")
        await conn.execute("ANALYZE dead_letter")
        assert await dead_letter_rows_read(conn, None) <= 2 * 50
        assert await dead_letter_rows_read(conn, "sim") <= 2 * 50 * len(CHANNELS)
        page = await notifications.list_dead_letters(conn, channel=None, after=None, limit=50)
        assert [d.notification_id for d in page] == [f"scale-{i:07d}" for i in range(19_000, 19_050)]
        rest = await notifications.list_dead_letters(conn, channel=None, after=page[4].cursor_id, limit=45)
        assert rest == page[5:]
        sims = await notifications.list_dead_letters(conn, channel="sim", after=None, limit=5)
        assert [d.notification_id for d in sims] == [f"scale-{i:07d}" for i in range(19_001, 19_020, 4)]


async def test_the_reconciler_reads_only_rows_left_to_check(own_pool: asyncpg.Pool) -> None:
    """20,000 notifications, the last checked or finished long ago: a reconciler pass reads the few left."""
    await seed(own_pool, 0, 20_000)
    await own_pool.execute("UPDATE notification SET start_checked_at = now() WHERE id >= 'scale-0000120'")
    await own_pool.execute("VACUUM ANALYZE notification")  # as autovacuum would: the marked rows' old versions go
    left = await own_pool.fetchval("SELECT count(*) FROM notification WHERE id < 'scale-0000120' "
                                   "AND status IN ('accepted', 'scheduled')")
    async with own_pool.acquire() as conn, conn.transaction():
        before = await conn.fetchval(READ_SO_FAR)
        rows = await notifications.unchecked_starts(conn, 0, None, 1000)
        read = int(await conn.fetchval(READ_SO_FAR)) - int(before)
    assert len(rows) == left == 20
    assert read <= 10 * left, read
    after = await notifications.unchecked_starts(own_pool, 0, (rows[9].created_at, rows[9].id), 1000)
    assert after == rows[10:]


async def test_a_fold_empties_the_changes_and_keeps_the_counts(own_pool: asyncpg.Pool) -> None:
    await seed(own_pool, 0, 500)
    assert await own_pool.fetchval("SELECT count(*) FROM tally_change") > 0
    await tally.fold(own_pool)
    assert await own_pool.fetchval("SELECT count(*) FROM tally_change") == 0
    assert await shown_counts(own_pool) == await real_counts(own_pool)


async def test_truncating_the_tables_empties_their_counts(own_pool: asyncpg.Pool) -> None:
    await seed(own_pool, 0, 200)
    await own_pool.execute("TRUNCATE delivery_attempt")
    assert await shown_counts(own_pool) == await real_counts(own_pool)
    await own_pool.execute("TRUNCATE notification CASCADE")
    assert await shown_counts(own_pool) == await real_counts(own_pool)
    assert await tally.read(own_pool) == []
