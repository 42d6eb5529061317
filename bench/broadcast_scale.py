"""A broadcast to N users on its own stack: time to all delivered, worker peak memory, history per run, and
the exactly-once check (every user one notification, one inbox item).

    python -m bench.broadcast_scale --users 20000      (make broadcast-scale N=20000; QUICK=1 for 300)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client

from bench.stack import free_port
from core.models import BroadcastInput
from core.secrets import new_webhook_secret
from core.settings import Settings
from core.starting import queued_channels
from core.workflow_ids import broadcast_workflow_id
from devstack.temporal_server import start_dev_server, wait_until_serving
from store import broadcasts, templates
from store.db import create_pool
from store.migrate import migrate_url
from workflows.broadcast import BroadcastWorkflow

ROOT = Path(__file__).resolve().parent.parent


async def run(users: int, page_size: int) -> dict[str, Any]:
    import pgserver

    work = Path(tempfile.mkdtemp(prefix="hbench-", dir="/tmp"))
    pg = pgserver.get_server(work / "pg", cleanup_mode="delete")  # type: ignore[attr-defined]
    port = free_port()
    temporal = start_dev_server(None, port, None, work / "temporal.log")
    worker: subprocess.Popen[bytes] | None = None
    try:
        url = str(pg.get_uri())
        await migrate_url(url)
        client: Client = await wait_until_serving(f"127.0.0.1:{port}", temporal)
        from core.temporal import ensure_search_attributes

        await ensure_search_attributes(client, "default")
        pool = await create_pool(url, max_size=4)
        ids = [f"u{i:07d}" for i in range(users)]
        async with pool.acquire() as conn:
            await conn.copy_records_to_table("app_user", columns=["id", "name", "topics"],
                                             records=[(i, f"User {i}", ["everyone"]) for i in ids])
            await templates.create(conn, "scale", None, "Hello {{ user.name }}", None)
        queue = f"scale-{uuid.uuid4().hex[:6]}"
        env = {**os.environ, "DATABASE_URL": url, "TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "HERALD_TASK_QUEUE": queue,
               "HERALD_WEBHOOK_SECRET": new_webhook_secret(), "HERALD_DATA_DIR": str(work),
               "HERALD_SIM_ENABLED": "true"}
        worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bid = uuid.uuid4().hex
        await broadcasts.insert(pool, broadcasts.NewBroadcast(
            id=bid, idempotency_key=bid, request_hash="bench", workflow_id=broadcast_workflow_id(bid), template="scale",
            template_version=1, data={}, channels=["in_app"], priority="marketing", category="scale",
            audience={"topic": "everyone"}))
        started = time.monotonic()
        handle = await client.start_workflow(
            BroadcastWorkflow.run, BroadcastInput(broadcast_id=bid, template="scale", template_version=1, data={},
                                                  channels=["in_app"], priority="marketing", category="scale",
                                                  page_size=page_size,
                                                  # as the API decides it: in_app has no rate limit
                                                  queued_channels=queued_channels(Settings(), ["in_app"])),
            id=broadcast_workflow_id(bid), task_queue=queue)
        peak_rss = 0
        delivered = 0
        process = psutil.Process(worker.pid)
        while delivered < users:
            await asyncio.sleep(2)
            peak_rss = max(peak_rss, process.memory_info().rss)
            delivered = await pool.fetchval(
                "SELECT count(*) FROM notification WHERE broadcast_id = $1 AND status = 'delivered'", bid)
            elapsed = time.monotonic() - started
            print(f"\r  delivered {delivered:>7}/{users}  {delivered / elapsed:6.1f}/s  worker RSS "
                  f"{process.memory_info().rss / 2**20:6.1f} MiB  {elapsed:6.0f} s", end="", flush=True)
            if worker.poll() is not None:
                raise RuntimeError("the worker died")
        elapsed = time.monotonic() - started
        print()
        await handle.result()
        runs = [w async for w in client.list_workflows(f'WorkflowId = "{broadcast_workflow_id(bid)}"')]
        history = [len([e async for e in client.get_workflow_handle(broadcast_workflow_id(bid), run_id=r.run_id)
                        .fetch_history_events()]) for r in runs]
        per_user = await pool.fetchrow(
            """SELECT count(DISTINCT n.user_id) AS users, count(*) AS notifications, count(i.*) AS items
               FROM notification n LEFT JOIN inbox_item i ON i.notification_id = n.id
               WHERE n.broadcast_id = $1""", bid)
        await pool.close()
        assert per_user is not None
        return {
            "date": datetime.now(UTC).isoformat(), "users": users, "page_size": page_size,
            "seconds_to_all_delivered": round(elapsed, 1), "notifications_per_second": round(users / elapsed, 1),
            "worker_peak_rss_mib": round(peak_rss / 2**20, 1), "broadcast_runs": len(runs),
            "max_history_events_per_run": max(history), "exactly_once": per_user["users"] == users
            and per_user["notifications"] == users and per_user["items"] == users,
        }
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        temporal.terminate()
        temporal.wait(30)
        pg.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=250)
    args = parser.parse_args()
    print(f"broadcast to {args.users} users (pages of {args.page_size}), on a fresh embedded stack")
    result = asyncio.run(run(args.users, args.page_size))
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"broadcast-{args.users}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not result["exactly_once"]:
        sys.exit("FAILED: some user was not notified exactly once")


if __name__ == "__main__":
    main()
