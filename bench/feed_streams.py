"""Open feed streams on one API process: N browser tabs of one user hold `/v1/me/feed/stream` open, items are
committed to that user's inbox, and each one's arrival is timed at every stream.

    python -m bench.feed_streams [--streams 1000] [--items 5]

Items are written straight into PostgreSQL (as the in-app provider's commit would), so the time measured is the
push path alone: the trigger's NOTIFY, the API's one LISTEN connection, the shared event, every stream."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from bench.load import collector_paused
from bench.stack import Stack, db_pool, start_stack

SIGNING_KEY = "bench-feed-streams-" + "k" * 40


async def _stream(http: httpx.AsyncClient, token: str, ready: asyncio.Event, opened: list[int],
                  arrivals: dict[str, list[float]], total: int) -> None:
    async with http.stream("GET", "/v1/me/feed/stream", headers={"Authorization": f"Bearer {token}"}) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data:"):
                continue
            event = json.loads(line.removeprefix("data:"))
            if event["type"] == "counts":
                opened.append(1)
                if len(opened) == total:
                    ready.set()
            elif event["type"] == "item":
                arrivals.setdefault(event["item"]["notification_id"], []).append(time.perf_counter())


async def measure(stack: Stack, streams: int, items: int) -> dict[str, Any]:
    user = f"streams-{uuid.uuid4().hex[:6]}"
    token = jwt.encode({"sub": user, "exp": datetime.now(UTC) + timedelta(hours=1)}, SIGNING_KEY, algorithm="HS256")
    pool = await db_pool(stack)
    await pool.execute("INSERT INTO app_user (id, name) VALUES ($1, 'Ada')", user)
    ready = asyncio.Event()
    opened: list[int] = []
    arrivals: dict[str, list[float]] = {}
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=httpx.Timeout(60, read=None),
                                 limits=limits) as http:
        started = time.perf_counter()
        tasks = [asyncio.create_task(_stream(http, token, ready, opened, arrivals, streams))
                 for _ in range(streams)]
        await asyncio.wait_for(ready.wait(), 300)
        open_s = time.perf_counter() - started
        spreads = []
        with collector_paused():  # its pauses would show as late arrivals
            for i in range(items):
                nid = f"{user}-{i}"
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        """INSERT INTO notification (id, idempotency_key, request_hash, workflow_id, status, user_id,
                               channels, priority, template, template_version)
                           VALUES ($1, $1, 'h', 'w-' || $1, 'delivered', $2, '{in_app}', 'transactional', 't', 1)""",
                        nid, user)
                    await conn.execute("INSERT INTO inbox_item (notification_id, user_id, subject, body) "
                                       "VALUES ($1, $2, 'Hi', 'Hello')", nid, user)
                committed = time.perf_counter()
                deadline = committed + 30
                while len(arrivals.get(nid, [])) < streams and time.perf_counter() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                got = arrivals.get(nid, [])
                spreads.append({"reached": len(got),
                                "last_ms": round(1000 * (max(got) - committed), 1) if got else None,
                                "median_ms": round(1000 * (statistics.median(got) - committed), 1) if got else None})
                await asyncio.sleep(0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await pool.close()
    return {"streams": streams, "open_s": round(open_s, 1), "items": spreads,
            "all_within_1s": all(s["reached"] == streams and s["last_ms"] is not None and s["last_ms"] < 1000
                                 for s in spreads)}


async def _alone(streams: int, items: int) -> dict[str, Any]:
    stack = await start_stack(extra_env={"HERALD_INBOX_SIGNING_KEY": SIGNING_KEY,
                                         "HERALD_TOKEN_MAX_STREAMS": str(streams), "HERALD_TOKEN_RATE_PER_S": "0"})
    try:
        await stack.start_api()
        return await measure(stack, streams, items)
    finally:
        await stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--items", type=int, default=5)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Two sockets a stream on this machine (this client's and the API's, which inherits the limit).
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.streams + 1024)), hard))
    print(json.dumps(asyncio.run(_alone(args.streams, args.items)), indent=2), file=sys.stdout)


if __name__ == "__main__":
    main()
