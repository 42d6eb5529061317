"""Dashboard page speed: N notifications stored by COPY (default 10,000), then each page fetched several times
with the Bearer key; median and p95 per page. The inbox feed's first page (`GET /v1/me/feed`) is timed the same
way, with its user's token, for one user with 10,000 items in the inbox. Part of `make bench`; alone:
`python -m bench.pages [--n N] [--feed-items N]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.load import collector_paused, percentile
from bench.progress import Progress
from bench.stack import Stack, db_pool, start_stack
from core.workflow_ids import notification_workflow_id

TARGET_MS = 200.0
FEED = "/v1/me/feed"
# The feed answers a browser's scroll, not a page load: its own, tighter target.
TARGETS_MS = {FEED: 50.0}
# User tokens are rate limited (HERALD_TOKEN_RATE_PER_S, 10 a second by default); fetches with one keep under it.
TOKEN_PACE_S = 0.11
TEMPLATE = "bench-pages"
STATUSES = ["delivered"] * 90 + ["dead_lettered"] * 3 + ["retrying"] * 2 + ["accepted"] * 2 + ["discarded"] * 3
CHANNELS = ["in_app", "sim", "email", "webhook"]
PRIORITIES = ["otp", "transactional", "transactional", "marketing"]


async def seed(stack: Stack, n: int, users: int = 100) -> dict[str, str]:
    """Stores `n` notifications over the last hour (with deliveries, timelines, attempts, dead letters and the
    inbox of the first user) straight into PostgreSQL, the way a busy hour would leave them."""
    tag = uuid.uuid4().hex[:6]
    user_ids = [f"pages-{tag}-{i:04d}" for i in range(users)]
    now = datetime.now(UTC)
    notifications, deliveries, events, attempts, dead, inbox = [], [], [], [], [], []
    for i in range(n):
        nid = f"pages-{tag}-{i:06d}"
        status, channel = STATUSES[i % len(STATUSES)], CHANNELS[i % len(CHANNELS)]
        user = user_ids[i % users]
        created = now - timedelta(seconds=3600 * (n - i) / n)
        delivered = created + timedelta(milliseconds=300) if status == "delivered" else None
        error = "sim: simulated failure" if status != "delivered" else None
        notifications.append((nid, f"pages:{nid}", "bench", notification_workflow_id(nid), status, user, [channel],
                              PRIORITIES[i % len(PRIORITIES)], TEMPLATE, 1, created, created,
                              delivered, error))
        deliveries.append((nid, channel, status, "sim" if channel == "sim" else channel, 1, error))
        events.append((nid, created, "accepted", "accepted by the API"))
        events.append((nid, created + timedelta(milliseconds=300), status, error or ""))
        attempts.append((nid, channel, 1, created, "delivered" if delivered else "failed", error))
        if status == "dead_lettered":
            dead.append((nid, channel, error, 3, created))
        if i % users == 0:
            inbox.append((nid, user, "Hi Ada", f"Message {i}", created, None if i % 3 else created))
    pool = await db_pool(stack)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("app_user", columns=["id", "name", "email"],
                                             records=[(u, f"User {u}", f"{u}@example.com") for u in user_ids])
            await conn.copy_records_to_table(
                "notification", records=notifications,
                columns=["id", "idempotency_key", "request_hash", "workflow_id", "status", "user_id", "channels",
                         "priority", "template", "template_version", "created_at", "updated_at",
                         "delivered_at", "last_error"])
            await conn.copy_records_to_table(
                "delivery", records=deliveries,
                columns=["notification_id", "channel", "status", "provider", "attempts", "last_error"])
            await conn.copy_records_to_table("notification_event", records=events,
                                             columns=["notification_id", "at", "event", "detail"])
            await conn.copy_records_to_table("delivery_attempt", records=attempts,
                                             columns=["notification_id", "channel", "attempt", "at", "outcome",
                                                      "error"])
            await conn.copy_records_to_table("dead_letter", records=dead,
                                             columns=["notification_id", "channel", "error", "attempts",
                                                      "dead_lettered_at"])
            await conn.copy_records_to_table("inbox_item", records=inbox,
                                             columns=["notification_id", "user_id", "subject", "body", "created_at",
                                                      "read_at"])
            await conn.execute("ANALYZE")
    finally:
        await pool.close()
    return {"user": user_ids[0], "notification": notifications[n // 2][0]}


async def seed_feed(stack: Stack, items: int) -> str:
    """One user whose inbox holds `items` items over the last month (a third read, a tenth archived, categories
    mixed), stored by COPY; returns the user's id."""
    user = f"feed-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    notifications, inbox = [], []
    for i in range(items):
        nid = f"{user}-{i:06d}"
        created = now - timedelta(minutes=4 * (items - i))
        notifications.append((nid, f"pages:{nid}", "bench", notification_workflow_id(nid), "delivered", user,
                              ["in_app"], "transactional", ["news", "billing", None][i % 3], TEMPLATE, 1, created,
                              created, created))
        inbox.append((nid, user, "Hi Ada", f"Message {i}", created, created if i % 3 == 0 else None,
                      created if i % 10 == 0 else None))
    pool = await db_pool(stack)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO app_user (id, name, email) VALUES ($1, 'Ada', $1 || '@example.com')",
                               user)
            await conn.copy_records_to_table(
                "notification", records=notifications,
                columns=["id", "idempotency_key", "request_hash", "workflow_id", "status", "user_id", "channels",
                         "priority", "category", "template", "template_version", "created_at", "updated_at",
                         "delivered_at"])
            await conn.copy_records_to_table("inbox_item", records=inbox,
                                             columns=["notification_id", "user_id", "subject", "body", "created_at",
                                                      "read_at", "archived_at"])
            await conn.execute("ANALYZE inbox_item")
    finally:
        await pool.close()
    return user


async def measure(stack: Stack, n: int, fetches: int = 20, feed_items: int = 10_000) -> dict[str, Any]:
    """Seeds `n` notifications and a feed of `feed_items`, and times every page; returns
    {"pages": {path: {median_ms, p95_ms, target_ms}}, ...}."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as http:
        r = await http.post("/v1/templates", json={"name": TEMPLATE, "subject": "Hi {{ name }}",
                                                   "body": "Hello {{ name }}"})
        if r.status_code not in (201, 409):
            r.raise_for_status()
        ids = await seed(stack, n)
        feed_user = await seed_feed(stack, feed_items)
        tokens = {"/ui/inbox": await user_token(http, ids["user"]), FEED: await user_token(http, feed_user)}
        seeded_s = time.monotonic() - started
        paths = ["/ui", "/ui/overview/series", "/ui/send", "/ui/templates", f"/ui/templates/{TEMPLATE}",
                 "/ui/notifications", "/ui/notifications?status=dead_lettered&channel=sim",
                 "/ui/notifications?priority=marketing", f"/ui/notifications?user_id={ids['user']}",
                 f"/ui/notifications/{ids['notification']}", "/ui/dlq", "/ui/users", f"/ui/users/{ids['user']}",
                 "/ui/inbox", FEED]
        progress = Progress(f"pages ({n} stored)", len(paths) * fetches)
        results: dict[str, dict[str, float]] = {}
        for path in paths:
            token = tokens.get(path)
            headers = {"Authorization": f"Bearer {token}"} if token else None
            pace_s = TOKEN_PACE_S if token else 0.0
            for _ in range(3):  # warm-up: prepared statements, template compilation
                (warm := await http.get(path, headers=headers)).raise_for_status()
                await asyncio.sleep(pace_s)
            if path == FEED and not (warm.json()["items"] and warm.json()["unread_count"]):
                raise RuntimeError(f"{FEED} answered an empty feed for a user with {feed_items} items")
            times = []
            with collector_paused():
                for _ in range(fetches):
                    t0 = time.perf_counter()
                    r = await http.get(path, headers=headers)
                    times.append(1000 * (time.perf_counter() - t0))
                    r.raise_for_status()
                    progress.update(progress.done + 1)
                    await asyncio.sleep(pace_s)
            results[path] = {"median_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                             "target_ms": TARGETS_MS.get(path, TARGET_MS)}
        progress.close()
    slowest = max(results.items(), key=lambda kv: kv[1]["p95_ms"] / kv[1]["target_ms"])
    return {"notifications": n, "feed_items": feed_items, "fetches": fetches, "seed_s": round(seeded_s, 1),
            "pages": results, "slowest": slowest[0],
            "all_under_target": all(r["p95_ms"] < r["target_ms"] for r in results.values())}


async def user_token(http: httpx.AsyncClient, user_id: str) -> str:
    """A Herald-issued user token, one per page that takes one, so each page has its own rate budget."""
    r = await http.post(f"/v1/users/{user_id}/tokens")
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


def table_rows(pages: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(f"page p95 with {pages['notifications']:,} stored (median)",
             f"all under {TARGET_MS:.0f} ms ({FEED}: {TARGETS_MS[FEED]:.0f} ms): "
             f"{'yes' if pages['all_under_target'] else 'NO'}")]
    for path, r in pages["pages"].items():
        label = f"  {path}" + (f" ({pages['feed_items']:,} in the inbox)" if path == FEED else "")
        target = f", target {r['target_ms']:.0f} ms" if r["target_ms"] != TARGET_MS else ""
        rows.append((label, f"{r['p95_ms']} ms ({r['median_ms']}){target}"))
    return rows


async def _alone(n: int, fetches: int, feed_items: int) -> dict[str, Any]:
    stack = await start_stack()
    try:
        await stack.start_api()
        return await measure(stack, n, fetches, feed_items)
    finally:
        await stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="notifications stored")
    parser.add_argument("--fetches", type=int, default=20, help="timed fetches per page")
    parser.add_argument("--feed-items", type=int, default=10_000, help="items in the feed user's inbox")
    args = parser.parse_args()
    result = asyncio.run(_alone(args.n, args.fetches, args.feed_items))
    width = max(len(name) for name, _ in table_rows(result))
    print("\n".join(f"{name:<{width}}  {value}" for name, value in table_rows(result)))
    print(json.dumps(result, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
