"""The API's own CPU per accepted notification: `python -m bench.accept_cost [--quick]`.

The API application runs in this process on an embedded PostgreSQL (no Temporal: accepting never calls it), and
`POST /v1/notifications` is sent to it through httpx's in-process ASGI transport, the bench's two bodies in
turn (a `sim` address and a user's in-app inbox). CPU is this process's (`time.process_time`): the API's
routing, validation, render check, two PostgreSQL round trips' client side and response, plus the in-process
client's share, and nothing of the other processes on the machine. On a shared machine wall-clock latency
measures the neighbours; CPU per request moves far less with them. The best round is reported, the median
beside it.
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

import httpx

from bench import load
from core.secrets import new_admin_key


async def measure(n: int, rounds: int) -> dict[str, float]:
    import pgserver

    from api.app import create_app
    from core.settings import Settings
    from store.migrate import migrate_url

    work = Path(tempfile.mkdtemp(prefix="haccept-", dir="/tmp"))
    pg = pgserver.get_server(work / "pg", cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        url = str(pg.get_uri())
        await migrate_url(url)
        admin_key = new_admin_key()
        os.environ.update({"DATABASE_URL": url, "HERALD_ADMIN_KEY": admin_key, "HERALD_SIM_ENABLED": "true",
                           "HERALD_DATA_DIR": str(work), "HERALD_RECONCILE_EVERY_S": "0"})
        app = create_app(Settings())
        headers = {"Authorization": f"Bearer {admin_key}"}
        per_accept_ms: list[float] = []
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers) as http:
            await load.prepare(http)
            for index in range(min(n, 50)):  # imports, statement caches, compiled templates
                await _send(http, index)
            for _ in range(rounds):
                started = time.process_time()
                for index in range(n):
                    await _send(http, index)
                per_accept_ms.append(1000 * (time.process_time() - started) / n)
    finally:
        pg.cleanup()
    return {"cpu_ms_per_accept_best": round(min(per_accept_ms), 3),
            "cpu_ms_per_accept_median": round(statistics.median(per_accept_ms), 3), "n": n, "rounds": rounds}


async def _send(http: httpx.AsyncClient, index: int) -> None:
    r = await http.post("/v1/notifications", json=load.body_for(index),
                        headers={"Idempotency-Key": uuid.uuid4().hex})
    if r.status_code != 202:
        raise RuntimeError(f"accept refused: {r.status_code} {r.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests: a few seconds")
    args = parser.parse_args()
    result = asyncio.run(measure(200 if args.quick else 1000, 5 if args.quick else 7))
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
