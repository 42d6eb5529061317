"""What accepting a bulk request costs: `python -m bench.bulk_accept [--per-item] [--size 100] [--runs 20]`.

Accepts `runs` batches of `size` notifications (in-app to a stored user, each its own data) through the accept
service against an embedded PostgreSQL, no Temporal (accepting needs none), and reports per batch the wall time
and per item the CPU of this process and of PostgreSQL's processes. Two ways:
  batch      `services.accept.accept_many`: the batch checked and stored together (what the bulk route does)
  per-item   `services.accept.accept` for each item, 16 at a time (what the bulk route did before)
`--per-item` needs only `accept`, so the same script measures an older tree: run it with that tree first on
PYTHONPATH. The first 3 batches warm up and are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from api.schemas import NotificationCreate
from core.secrets import new_webhook_secret
from core.settings import Settings
from services import accept as accept_service
from store import templates, users
from store.db import create_pool
from store.migrate import migrate_url

WARM_UP = 3


def _postgres_cpu_s() -> float:
    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


async def _batch(pool: asyncpg.Pool, settings: Settings, bodies: list[NotificationCreate], per_item: bool) -> int:
    caller = accept_service.Caller(key="bench", is_admin=True)
    if not per_item:
        outcomes = await accept_service.accept_many(pool, settings, [(b, None) for b in bodies], caller)
        return sum(1 for o in outcomes if isinstance(o, accept_service.Accepted))
    limit = asyncio.Semaphore(16)

    async def one(body: NotificationCreate) -> int:
        async with limit:
            status, _ = await accept_service.accept(pool, settings, body, None, caller)
            return 1 if status == 202 else 0
    return sum(await asyncio.gather(*(one(b) for b in bodies)))


async def main(size: int, runs: int, per_item: bool) -> dict[str, Any]:
    import pgserver

    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="hba-", dir="/tmp")),  # type: ignore[attr-defined]
                                 cleanup_mode="delete")
    try:
        url = str(server.get_uri())
        await migrate_url(url)
        pool = await create_pool(url, min_size=4, max_size=16)
        settings = Settings(HERALD_TASK_QUEUE="bench", HERALD_WEBHOOK_SECRET=new_webhook_secret())
        name, user_id = f"bulk-{uuid.uuid4().hex[:8]}", f"bulku-{uuid.uuid4().hex[:8]}"
        async with pool.acquire() as conn:
            await templates.create(conn, name, "Hi {{ name }}", "Hello {{ name }}, item {{ n }}", None)
        await users.create(pool, user_id, {"name": "Ada"})
        wall_ms: list[float] = []
        cpu_ms: list[float] = []
        pg_ms: list[float] = []
        for run in range(WARM_UP + runs):
            bodies = [NotificationCreate.model_validate(
                {"template": name, "user_id": user_id, "channels": ["in_app"], "data": {"name": "Ada", "n": i}})
                for i in range(size)]
            cpu0, pg0, t0 = time.process_time(), _postgres_cpu_s(), time.perf_counter()
            accepted = await _batch(pool, settings, bodies, per_item)
            t1, cpu1, pg1 = time.perf_counter(), time.process_time(), _postgres_cpu_s()
            assert accepted == size, f"{accepted} of {size} accepted"
            if run >= WARM_UP:
                wall_ms.append(1000 * (t1 - t0))
                cpu_ms.append(1000 * (cpu1 - cpu0) / size)
                pg_ms.append(1000 * (pg1 - pg0) / size)
        await pool.close()
    finally:
        server.cleanup()
    return {"way": "per-item" if per_item else "batch", "size": size, "runs": runs,
            "batch_ms_p50": round(statistics.median(wall_ms), 1), "batch_ms_max": round(max(wall_ms), 1),
            "api_cpu_ms_per_item_p50": round(statistics.median(cpu_ms), 2),
            "postgres_cpu_ms_per_item_p50": round(statistics.median(pg_ms), 2),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--per-item", action="store_true")
    given = parser.parse_args()
    print(json.dumps(asyncio.run(main(given.size, given.runs, given.per_item))))
