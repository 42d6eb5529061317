"""What the status-webhook triggers (migration 011) cost on the hot path: `python -m bench.status_events`.

Times, on one connection, storing N notifications and N x 2 `apply_status_change` calls (processing, then
delivered: the writes every notification makes), in three databases of one embedded PostgreSQL:
  before   011's triggers dropped: the write path as it was
  none     011 as shipped, no subscription: the price every deployment pays
  one      one subscription to every event: an outbox row per accepted and delivered, with its payload
Rounds visit the databases in a new random order each time; the fastest round of each is reported (on a
shared machine the other rounds measure the neighbours), with the median beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from core.models import DeliveryState, StatusChange
from core.workflow_ids import notification_workflow_id
from store import notifications, webhooks
from store.db import create_pool
from store.migrate import migrate_url

_DROP = """DROP TRIGGER notification_status_event_insert ON notification;
           DROP TRIGGER notification_status_event_update ON notification;
           DROP TRIGGER inbox_item_read_event ON inbox_item;"""


async def _database(admin_url: str, server: Any, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = str(server.get_uri(name))
    await migrate_url(url)
    conn = await asyncpg.connect(url)
    try:  # PostgreSQL's own account of the time spent inside the trigger functions
        await conn.execute(f"ALTER DATABASE \"{name}\" SET track_functions = 'pl'")
    finally:
        await conn.close()
    return url


async def _trigger_time(pool: asyncpg.Pool) -> tuple[int, float]:
    """Calls of the status trigger function and the µs each took, as pg_stat_user_functions counts them."""
    await asyncio.sleep(1.5)  # function statistics reach the shared view at most a second after a transaction
    row = await pool.fetchrow("SELECT calls, total_time FROM pg_stat_user_functions "
                              "WHERE funcname = 'herald_status_event'")
    if row is None or not row["calls"]:
        return 0, 0.0
    return int(row["calls"]), float(row["total_time"]) * 1000 / int(row["calls"])


async def _round(pool: asyncpg.Pool, n: int) -> tuple[float, float]:
    """Seconds for n inserts, and for 2n status changes."""
    run = uuid.uuid4().hex[:8]
    ids = [f"{run}-{i}" for i in range(n)]
    async with pool.acquire() as conn:
        started = time.perf_counter()
        for nid in ids:
            await notifications.insert(conn, notifications.NewNotification(
                id=nid, idempotency_key=nid, request_hash="h", workflow_id=notification_workflow_id(nid),
                status="accepted", user_id="u", recipient={}, channels=["sim"], priority="transactional",
                category=None, template="t", template_version=1, data={"name": "Ada"}, send_at=None))
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        for nid in ids:
            for status in ("processing", "delivered"):
                await notifications.apply_status_change(conn, StatusChange(
                    notification_id=nid, status=status, event=status, at=datetime.now(UTC), detail=status,
                    deliveries=[DeliveryState(channel="sim", status=status, attempts=1)]))
        changed = time.perf_counter() - started
    return inserted, changed


async def main(n: int, rounds: int) -> None:
    import pgserver

    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="hse-", dir="/tmp")),  # type: ignore[attr-defined]
                                 cleanup_mode="delete")
    try:
        admin = str(server.get_uri())
        urls = {case: await _database(admin, server, f"bench_{case}") for case in ("before", "none", "one")}
        pools = {case: await create_pool(url, min_size=1, max_size=1) for case, url in urls.items()}
        await pools["before"].execute(_DROP)
        await webhooks.create(pools["one"], "http://127.0.0.1:9/hook", ["accepted", "delivered"], None)
        await _round(pools["none"], 100)  # warm up each plan cache and the server
        results: dict[str, list[tuple[float, float]]] = {case: [] for case in pools}
        for _ in range(rounds):
            for case in random.sample(list(pools), len(pools)):
                results[case].append(await _round(pools[case], n))
        outbox = await pools["one"].fetchval("SELECT count(*) FROM status_event")
        print(f"n={n} notifications per round, {rounds} rounds; outbox rows written with a subscription: {outbox}")
        print(f"{'case':8} {'insert µs':>16} {'status change µs':>17} {'per notification µs':>20}   (fastest, median)")
        for case, samples in results.items():
            insert = [s[0] / n * 1e6 for s in samples]
            change = [s[1] / (2 * n) * 1e6 for s in samples]
            total = [i + 2 * c for i, c in zip(insert, change, strict=True)]
            print(f"{case:8} {min(insert):7.0f} {statistics.median(insert):7.0f}  {min(change):7.0f} "
                  f"{statistics.median(change):7.0f}  {min(total):9.0f} {statistics.median(total):9.0f}")
        for case in ("none", "one"):
            calls, each = await _trigger_time(pools[case])
            print(f"{case:8} herald_status_event: {calls} calls, {each:.1f} µs each (inside PostgreSQL)")
        for pool in pools.values():
            await pool.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.rounds))
