"""Dashboard page speed: N notifications stored by COPY (default 10,000), then each page fetched several times
with the Bearer key; median and p95 per page. Part of `make bench`; alone: `python -m bench.pages [--n N]`."""

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

from bench.load import percentile
from bench.progress import Progress
from bench.stack import Stack, db_pool, start_stack
from core.workflow_ids import notification_workflow_id

TARGET_MS = 200.0
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


async def measure(stack: Stack, n: int, fetches: int = 20) -> dict[str, Any]:
    """Seeds `n` notifications and times every page; returns {"pages": {path: {median_ms, p95_ms}}, ...}."""
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=30) as http:
        r = await http.post("/v1/templates", json={"name": TEMPLATE, "subject": "Hi {{ name }}",
                                                   "body": "Hello {{ name }}"})
        if r.status_code not in (201, 409):
            r.raise_for_status()
        ids = await seed(stack, n)
        token = (await http.post(f"/v1/users/{ids['user']}/tokens")).json()["token"]
        seeded_s = time.monotonic() - started
        paths = ["/ui", "/ui/overview/series", "/ui/send", "/ui/templates", f"/ui/templates/{TEMPLATE}",
                 "/ui/notifications", "/ui/notifications?status=dead_lettered&channel=sim",
                 "/ui/notifications?priority=marketing", f"/ui/notifications?user_id={ids['user']}",
                 f"/ui/notifications/{ids['notification']}", "/ui/dlq", "/ui/users", f"/ui/users/{ids['user']}",
                 "/ui/inbox"]
        progress = Progress(f"pages ({n} stored)", len(paths) * fetches)
        results: dict[str, dict[str, float]] = {}
        for path in paths:
            headers = {"Authorization": f"Bearer {token}"} if path == "/ui/inbox" else None
            for _ in range(3):  # warm-up: prepared statements, template compilation
                (await http.get(path, headers=headers)).raise_for_status()
            times = []
            for _ in range(fetches):
                t0 = time.perf_counter()
                r = await http.get(path, headers=headers)
                times.append(1000 * (time.perf_counter() - t0))
                r.raise_for_status()
                progress.update(progress.done + 1)
            results[path] = {"median_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1)}
        progress.close()
    slowest = max(results.items(), key=lambda kv: kv[1]["p95_ms"])
    return {"notifications": n, "fetches": fetches, "seed_s": round(seeded_s, 1), "pages": results,
            "slowest": slowest[0], "all_under_target": slowest[1]["p95_ms"] < TARGET_MS}


def table_rows(pages: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(f"page p95 with {pages['notifications']:,} stored (median)",
             f"all under {TARGET_MS:.0f} ms: {'yes' if pages['all_under_target'] else 'NO'}")]
    rows += [(f"  {path}", f"{r['p95_ms']} ms ({r['median_ms']})") for path, r in pages["pages"].items()]
    return rows


async def _alone(n: int, fetches: int) -> dict[str, Any]:
    stack = await start_stack()
    try:
        await stack.start_api()
        return await measure(stack, n, fetches)
    finally:
        await stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="notifications stored")
    parser.add_argument("--fetches", type=int, default=20, help="timed fetches per page")
    args = parser.parse_args()
    result = asyncio.run(_alone(args.n, args.fetches))
    width = max(len(name) for name, _ in table_rows(result))
    print("\n".join(f"{name:<{width}}  {value}" for name, value in table_rows(result)))
    print(json.dumps(result, indent=2), file=sys.stderr)


if __name__ == "__main__":
    main()
