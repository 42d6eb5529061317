"""A broadcast through the API to N users inserted with COPY: time to all delivered, the worker's peak memory,
the largest broadcast-run history, and the exactly-once check (every user one notification, one inbox item)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from bench import load
from bench.progress import Progress
from bench.stack import Stack, db_pool


async def run_broadcast(stack: Stack, users: int, poll_s: float = 1.0) -> dict[str, Any]:
    topic = f"everyone-{uuid.uuid4().hex[:6]}"
    pool = await db_pool(stack)
    try:
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "app_user", columns=["id", "name", "topics"],
                records=[(f"{topic}-{i:07d}", f"User {i}", [topic]) for i in range(users)])
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
            await load.prepare(http)
            started = time.monotonic()
            r = await http.post("/v1/broadcasts", json={"template": load.TEMPLATE, "channels": ["in_app"],
                                                         "data": {"n": 0}, "audience": {"topic": topic}})
            r.raise_for_status()
            broadcast = r.json()
        progress = Progress(f"broadcast to {users}", users)
        peak = 0.0
        while True:
            await asyncio.sleep(poll_s)
            peak = max(peak, *(v for k, v in stack.rss_mb().items() if k.startswith("worker")))
            delivered = await pool.fetchval(
                "SELECT count(*) FROM notification WHERE broadcast_id = $1 AND status = 'delivered'",
                broadcast["id"])
            progress.update(delivered)
            stack.check_alive()
            if delivered >= users:
                break
        elapsed = time.monotonic() - started
        progress.close(f"{users / elapsed:.1f}/s")
        per_user = await pool.fetchrow(
            """SELECT count(DISTINCT n.user_id) AS users, count(*) AS notifications, count(i.*) AS items
               FROM notification n LEFT JOIN inbox_item i ON i.notification_id = n.id
               WHERE n.broadcast_id = $1""", broadcast["id"])
    finally:
        await pool.close()
    assert per_user is not None
    runs = [w async for w in stack.client.list_workflows(f'WorkflowId = "{broadcast["workflow_id"]}"')]
    history = [len([e async for e in stack.client.get_workflow_handle(
        broadcast["workflow_id"], run_id=w.run_id).fetch_history_events()]) for w in runs]
    return {"users": users, "seconds": round(elapsed, 1), "per_s": round(users / elapsed, 1),
            "worker_peak_rss_mb": round(peak, 1), "runs": len(runs), "max_history_events": max(history),
            "exactly_once": per_user["users"] == users and per_user["notifications"] == users
            and per_user["items"] == users}
