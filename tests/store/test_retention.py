"""Retention on a real database of its own: what has aged past HERALD_RETENTION_DAYS goes, a small batch per
statement, and nothing else; the counts /metrics and the dashboard show do not move."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import ActivityEnvironment

from activities.retention import RetentionActivities, RetentionInput, RetentionResult
from api import metrics
from core.settings import Settings
from services import metrics as overview
from store.db import create_pool
from store.migrate import migrate_url
from tests.conftest import new_database

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)  # past the 30-day retention
RECENT = NOW - timedelta(days=10)


@pytest.fixture
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    url = await new_database(pg_server, f"retention_{uuid.uuid4().hex[:8]}")
    await migrate_url(url)
    pool = await create_pool(url, min_size=1, max_size=4)
    await pool.execute("INSERT INTO webhook_subscription (id, url, events) VALUES ('sub', 'http://r', '{}')")
    yield pool
    await pool.close()


async def notification(pool: asyncpg.Pool, nid: str, status: str, changed: datetime, *,
                       digest_id: str | None = None) -> str:
    """A notification with a delivery, a failed and a final attempt, and a timeline event."""
    await pool.execute(
        """INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, channels, priority,
                                     template, template_version, created_at, updated_at, digest_id)
           VALUES ($1, $1, 'h', 'wf-' || $1, $2, '{email}', 'transactional', 't', 1, $3, $3, $4)""",
        nid, status, changed, digest_id)
    await pool.execute("INSERT INTO delivery (notification_id, channel, status) VALUES ($1, 'email', $2)",
                       nid, status)
    await pool.execute("""INSERT INTO delivery_attempt (notification_id, channel, attempt, at, outcome)
                          VALUES ($1, 'email', 1, $2, 'failed'), ($1, 'email', 2, $2, 'delivered')""", nid, changed)
    await pool.execute("INSERT INTO notification_event (notification_id, at, event) VALUES ($1, $2, 'accepted')",
                       nid, changed)
    return nid


async def inbox_item(pool: asyncpg.Pool, nid: str, read_at: datetime | None) -> None:
    await pool.execute("INSERT INTO inbox_item (notification_id, user_id, body, read_at) VALUES ($1, 'u', 'b', $2)",
                       nid, read_at)


async def dead_letter(pool: asyncpg.Pool, nid: str, resolved_at: datetime | None) -> None:
    await pool.execute(
        """INSERT INTO dead_letter (notification_id, channel, error, attempts, dead_lettered_at, resolved_at,
                                    resolution)
           VALUES ($1, 'email', 'x', 3, $2, $3, CASE WHEN $3::timestamptz IS NOT NULL THEN 'expired' END)""",
        nid, OLD - timedelta(days=1), resolved_at)


async def status_event(pool: asyncpg.Pool, nid: str, outcome: str | None, done_at: datetime | None) -> int:
    event_id: int = await pool.fetchval(
        """INSERT INTO status_event (subscription_id, notification_id, type, occurred_at, payload, relayed_at,
                                     outcome, done_at)
           VALUES ('sub', $1, 'delivered', $3, '{}', $3, $2, $3) RETURNING id""",
        nid, outcome, done_at or NOW)
    if done_at is None:
        await pool.execute("UPDATE status_event SET done_at = NULL, outcome = NULL WHERE id = $1", event_id)
    return event_id


async def ids(pool: asyncpg.Pool, sql: str) -> set[Any]:
    return {r[0] for r in await pool.fetch(sql)}


async def run(pool: asyncpg.Pool, limit: int = 1000) -> tuple[RetentionResult, list[tuple[str, int]]]:
    """One pass, as the schedule's workflow runs it, and the heartbeats it sent (what it had deleted so far)."""
    env = ActivityEnvironment()
    beats: list[tuple[str, int]] = []
    env.on_heartbeat = lambda *details: beats.append((details[0], details[1]))
    activities = RetentionActivities(pool, Settings(HERALD_RETENTION_DAYS=30))
    return await env.run(activities.delete_expired, RetentionInput(limit=limit)), beats


async def shown(pool: asyncpg.Pool) -> tuple[dict[str, Any], list[tuple[str, tuple[str, ...]]]]:
    """The dashboard's totals, and /metrics as (sample, label names) plus each sample's value."""
    async with pool.acquire() as conn:
        text = (await metrics.render_on(conn)).decode()
    samples = [(s.name, tuple(sorted(s.labels.items())), s.value)
               for f in text_string_to_metric_families(text) for s in f.samples
               if s.name.startswith(("herald_notifications", "herald_delivery_attempts_failed", "herald_dlq"))]
    totals = asdict(await overview.totals(pool))
    totals.pop("delivered_last_5m")
    return totals, sorted(samples)  # type: ignore[arg-type]


async def test_retention_deletes_what_aged_out_and_nothing_else(own_pool: asyncpg.Pool) -> None:
    pool = own_pool
    gone = {await notification(pool, f"old-{s}", s, OLD)
            for s in ("delivered", "canceled", "discarded", "skipped")}
    read_long_ago = await notification(pool, "old-read", "delivered", OLD)
    await inbox_item(pool, read_long_ago, OLD + timedelta(hours=1))
    expired = await notification(pool, "old-expired-dlq", "dead_lettered", OLD)
    await dead_letter(pool, expired, OLD + timedelta(days=1))
    gone |= {read_long_ago, expired}

    kept = {await notification(pool, "recent-delivered", "delivered", RECENT)}
    # May still run: not final, whatever its age.
    kept |= {await notification(pool, f"old-{s}", s, OLD)
             for s in ("accepted", "scheduled", "processing", "retrying")}
    parked = await notification(pool, "old-parked", "dead_lettered", OLD)
    await dead_letter(pool, parked, None)
    retried = await notification(pool, "old-retried", "dead_lettered", OLD)
    await dead_letter(pool, retried, RECENT)  # resolved within the retention: its workflow may still run
    unread = await notification(pool, "old-unread", "delivered", OLD)
    await inbox_item(pool, unread, None)
    read_lately = await notification(pool, "old-read-lately", "delivered", OLD)
    await inbox_item(pool, read_lately, RECENT)  # read at last: its notification is old enough to go with it
    gone.add(read_lately)
    relaying = await notification(pool, "old-relaying", "delivered", OLD)
    await status_event(pool, relaying, None, None)
    await inbox_item(pool, relaying, OLD)  # read long ago: the item goes, its notification stays
    kept |= {parked, retried, unread, relaying}
    await inbox_item(pool, "recent-delivered", RECENT)

    # A notification kept for now carries status events of every age and end.
    old_delivered_event = await status_event(pool, "recent-delivered", "delivered", OLD)
    recent_event = await status_event(pool, "recent-delivered", "delivered", RECENT)
    old_discarded_event = await status_event(pool, "recent-delivered", "discarded", OLD)
    gone_events = {old_delivered_event} | await ids(
        pool, f"SELECT id FROM status_event WHERE notification_id IN {tuple(gone)!r}")

    before = await shown(pool)
    result, _ = await run(pool)

    assert await ids(pool, "SELECT id FROM notification") == kept
    for table in ("delivery", "delivery_attempt", "notification_event"):
        assert await ids(pool, f"SELECT DISTINCT notification_id FROM {table}") == kept, table
    assert await ids(pool, "SELECT notification_id FROM inbox_item") == {unread, "recent-delivered"}
    assert await ids(pool, "SELECT notification_id FROM dead_letter") == {parked, retried}
    assert await ids(pool, "SELECT id FROM status_event") == (
        {await pool.fetchval("SELECT id FROM status_event WHERE notification_id = $1", relaying),
         recent_event, old_discarded_event})
    assert result == RetentionResult(notifications=len(gone), inbox_items=2, status_events=1), gone_events
    # Lifetime totals: what retention deleted stays counted, in the same shape.
    assert await shown(pool) == before
    assert (await run(pool))[0] == RetentionResult(notifications=0, inbox_items=0, status_events=0)


async def test_retention_deletes_in_small_batches_past_rows_that_must_stay(own_pool: asyncpg.Pool) -> None:
    """The oldest rows are ones that stay (unread messages): each batch looks at the next few candidates after
    the last one looked at, so they are passed over once, not read again by every batch."""
    pool = own_pool
    for i in range(7):
        await inbox_item(pool, await notification(pool, f"unread-{i}", "delivered", OLD - timedelta(days=1)), None)
    for i in range(11):
        await notification(pool, f"done-{i:02d}", "delivered", OLD + timedelta(minutes=i))
    await pool.execute("INSERT INTO inbox_item (notification_id, user_id, body, read_at) "
                       "SELECT id, 'u', 'b', $1 FROM notification WHERE id LIKE 'done-0%'", OLD)

    result, beats = await run(pool, limit=3)

    assert result == RetentionResult(notifications=11, inbox_items=10, status_events=0)
    assert await ids(pool, "SELECT id FROM notification") == {f"unread-{i}" for i in range(7)}
    for kind in ("inbox_item", "notification"):
        progress = [0] + [n for k, n in beats if k == kind]
        steps = [b - a for a, b in itertools.pairwise(progress)]
        assert steps and max(steps) <= 3, (kind, progress)
    # 18 candidates, 3 per batch after a cursor: 6 batches, the first two finding only unread ones.
    assert [n for k, n in beats if k == "notification"] == [0, 0, 2, 5, 8, 11]


async def test_a_digest_goes_after_the_notifications_it_delivered(own_pool: asyncpg.Pool) -> None:
    pool = own_pool
    digest = await notification(pool, "digest", "delivered", OLD)
    for i in range(3):
        await notification(pool, f"absorbed-{i}", "digested", OLD - timedelta(minutes=1), digest_id=digest)

    first, _ = await run(pool, limit=10)
    second, _ = await run(pool, limit=10)

    assert first.notifications == 3 and second.notifications == 1
    assert await ids(pool, "SELECT id FROM notification") == set()


async def test_deleting_a_row_otherwise_still_counts_it_out(own_pool: asyncpg.Pool) -> None:
    """Only retention's own transactions leave the counts alone; any other delete moves them as before."""
    pool = own_pool
    await notification(pool, "one", "delivered", OLD)
    before, _ = await shown(pool)
    await pool.execute("DELETE FROM notification WHERE id = 'one'")
    after, _ = await shown(pool)
    assert (before["delivered"], before["failed_attempts"]) == (1, 1)
    assert (after["delivered"], after["failed_attempts"]) == (0, 0)


async def test_a_pass_rests_after_each_batch_so_its_statements_take_only_their_duty(
        own_pool: asyncpg.Pool) -> None:
    pool = own_pool
    for i in range(7):
        await notification(pool, f"old-paced-{i}", "delivered", OLD)
    rests: list[float] = []

    async def rest(seconds: float) -> None:
        rests.append(seconds)

    ticks = itertools.count()  # each statement takes half a second on this clock
    paced = RetentionActivities(pool, Settings(HERALD_RETENTION_DAYS=30, HERALD_RETENTION_DUTY=0.25),
                                sleep=rest, clock=lambda: next(ticks) * 0.5)
    result = await ActivityEnvironment().run(paced.delete_expired, RetentionInput(limit=3))
    assert result.notifications == 7
    # Three batches of notifications and the statement that finds none left, after the two other kinds' one each:
    # each rests three times its half second, so statements fill a quarter of the pass.
    assert rests == [1.5] * 6

    await notification(pool, "old-unpaced", "delivered", OLD)
    rests.clear()
    unpaced = RetentionActivities(pool, Settings(HERALD_RETENTION_DAYS=30, HERALD_RETENTION_DUTY=1),
                                  sleep=rest, clock=lambda: next(ticks) * 0.5)
    assert (await ActivityEnvironment().run(unpaced.delete_expired, RetentionInput(limit=3))).notifications == 1
    assert rests == []
