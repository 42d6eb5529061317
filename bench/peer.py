"""Bench part `peer`: the classic design as an anchor, in the same run as Herald.

A polling worker on a PostgreSQL queue: workers claim due jobs with `FOR UPDATE SKIP LOCKED`, render the
template with Herald's own renderer, send with the same providers the bench's Herald load uses (the `sim`
provider; an in-app message is a row in an inbox table), and record the outcome in the job's transaction. A
transient failure is retried with exponential backoff (the job's `run_at` moves on); a permanent one, or the
last attempt, moves the job to a dead-letter table. No timers, history or signals: what it lacks is what
Herald's durability costs. It is not a product and is not shipped; its tables live in a schema of their own.

    python -m bench.peer DATABASE_URL      the worker (the bench starts it as a child process)
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import asyncpg
import psutil

from bench import load
from bench.progress import Progress
from bench.stack import ROOT, Stack, db_pool, process_cpu_seconds
from core import templating
from providers.base import OutgoingMessage, PermanentDeliveryError, TransientDeliveryError
from providers.sim import SimProvider

if TYPE_CHECKING:
    from store.db import Connection

log = logging.getLogger("bench.peer")

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS peer;
CREATE TABLE IF NOT EXISTS peer.job (
    id         bigserial PRIMARY KEY,
    payload    jsonb NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    run_at     timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS job_due_idx ON peer.job (run_at, id);
CREATE TABLE IF NOT EXISTS peer.sent (
    job_id              bigint PRIMARY KEY,
    channel             text NOT NULL,
    provider_message_id text,
    attempts            integer NOT NULL,
    created_at          timestamptz NOT NULL,
    sent_at             timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS peer.inbox_item (
    job_id     bigint PRIMARY KEY,
    user_id    text NOT NULL,
    subject    text,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS peer.dead_letter (
    job_id   bigint PRIMARY KEY,
    payload  jsonb NOT NULL,
    error    text NOT NULL,
    attempts integer NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
"""

CLAIM = """SELECT id, payload, attempts, created_at FROM peer.job WHERE run_at <= now()
           ORDER BY run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"""
MAX_ATTEMPTS = 3
BACKOFF_S = (1.0, 2.0)
BATCH = 10
LOOPS = 8
IDLE_POLL_S = 0.05


async def handle(conn: Connection, job: asyncpg.Record, templates: dict[str, tuple[str | None, str]],
                 sim: SimProvider) -> None:
    """One job, inside the claiming transaction: render, send, record; or back off; or dead-letter."""
    payload = json.loads(job["payload"])
    attempt = job["attempts"] + 1
    channel = payload["channels"][0]
    try:
        subject, body = templates[payload["template"]]
        rendered = await templating.render_async(subject, body, templating.context_for(payload["data"], None))
        if channel == "in_app":
            await conn.execute("INSERT INTO peer.inbox_item (job_id, user_id, subject, body) VALUES ($1, $2, $3, $4)"
                               " ON CONFLICT DO NOTHING", job["id"], payload["user_id"], rendered.subject,
                               rendered.body)
            message_id = None
        else:
            receipt = await sim.send(OutgoingMessage(
                notification_id=str(job["id"]), channel=channel, address=payload["to"][channel],
                subject=rendered.subject or "", body=rendered.body, user_id=None, attempt=attempt))
            message_id = receipt.provider_message_id
    except TransientDeliveryError as exc:
        await fail(conn, job, str(exc), attempt)
        return
    except (PermanentDeliveryError, templating.TemplateError) as exc:
        await dead_letter(conn, job, str(exc), attempt)
        return
    await conn.execute("INSERT INTO peer.sent (job_id, channel, provider_message_id, attempts, created_at) "
                       "VALUES ($1, $2, $3, $4, $5)", job["id"], channel, message_id, attempt, job["created_at"])
    await conn.execute("DELETE FROM peer.job WHERE id = $1", job["id"])


async def fail(conn: Connection, job: asyncpg.Record, error: str, attempt: int) -> None:
    """A transient failure: again after a backoff, or to the dead-letter table after the last attempt."""
    if attempt < MAX_ATTEMPTS:
        backoff = BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]
        await conn.execute("UPDATE peer.job SET attempts = $2, run_at = now() + make_interval(secs => $3) "
                           "WHERE id = $1", job["id"], attempt, backoff)
        return
    await dead_letter(conn, job, error, attempt)


async def dead_letter(conn: Connection, job: asyncpg.Record, error: str, attempts: int) -> None:
    await conn.execute("INSERT INTO peer.dead_letter (job_id, payload, error, attempts) VALUES ($1, $2, $3, $4)",
                       job["id"], job["payload"], error, attempts)
    await conn.execute("DELETE FROM peer.job WHERE id = $1", job["id"])


async def loop(pool: asyncpg.Pool, templates: dict[str, tuple[str | None, str]]) -> None:
    sim = SimProvider()
    while True:
        async with pool.acquire() as conn, conn.transaction():
            jobs = await conn.fetch(CLAIM, BATCH)
            for job in jobs:
                try:
                    async with conn.transaction():  # a savepoint: one job's error leaves the batch's others
                        await handle(conn, job, templates, sim)
                except Exception as exc:  # anything unforeseen counts as a transient failure of this job
                    log.exception("job %s failed", job["id"])
                    await fail(conn, job, f"{type(exc).__name__}: {exc}", job["attempts"] + 1)
        if not jobs:
            await asyncio.sleep(IDLE_POLL_S)


async def work(url: str) -> None:
    pool = await asyncpg.create_pool(url, min_size=LOOPS, max_size=LOOPS)
    rows = await pool.fetch("SELECT DISTINCT ON (name) name, subject, body FROM template_version "
                            "ORDER BY name, version DESC")
    templates = {r["name"]: (r["subject"], r["body"]) for r in rows}
    await asyncio.gather(*(loop(pool, templates) for _ in range(LOOPS)))


async def measure(stack: Stack, n: int) -> dict[str, Any]:
    """N jobs of the bench's own bodies enqueued at once, then the time and CPU until every one is final."""
    pool = await db_pool(stack)
    try:
        await pool.execute(SCHEMA)
        worker = subprocess.Popen([sys.executable, "-m", "bench.peer", stack.db_url], cwd=ROOT, env=stack.env,
                                  stdout=(stack.work / "peer.log").open("wb"), stderr=subprocess.STDOUT)
        try:
            await asyncio.sleep(2)  # imports and connections, outside the measured window
            cpu0 = {**stack.cpu_seconds(), "peer": process_cpu_seconds(psutil.Process(worker.pid))}
            started = time.monotonic()
            # As text: the bench's pool encodes jsonb parameters itself, and would store a JSON string.
            await pool.executemany("INSERT INTO peer.job (payload) VALUES ($1::text::jsonb)",
                                   [(json.dumps(load.body_for(i) | {"user_id": load.USER}),) for i in range(n)])
            progress = Progress("peer: final", n)
            while (left := await pool.fetchval("SELECT count(*) FROM peer.job")) > 0:
                if worker.poll() is not None:
                    tail = (stack.work / "peer.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the peer worker exited:\n{tail}")
                progress.update(n - left)
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            cpu1 = {**stack.cpu_seconds(), "peer": process_cpu_seconds(psutil.Process(worker.pid))}
            progress.close(f"{n / elapsed:.1f}/s end to end")
        finally:
            worker.terminate()
            worker.wait(10)
        sent = await pool.fetchval("SELECT count(*) FROM peer.sent")
        parked = await pool.fetchval("SELECT count(*) FROM peer.dead_letter")
        errors = {r["error"]: r["n"] for r in await pool.fetch(
            "SELECT error, count(*) AS n FROM peer.dead_letter GROUP BY error")}
    finally:
        await pool.close()
    if parked:  # every body the bench sends delivers: a dead letter here is a fault of this worker
        raise RuntimeError(f"the peer dead-lettered {parked} of {n}: {errors}")
    cpu = {k: round(1000 * (cpu1[k] - cpu0[k]) / n, 2) for k in ("peer", "postgres", "bench")}
    return {"n": n, "seconds": round(elapsed, 1), "e2e_per_s": round(n / elapsed, 1), "sent": sent,
            "dead_lettered": parked, "dead_letter_errors": errors, "cpu_ms_per_notification": cpu,
            "cpu_ms_per_notification_total": round(cpu["peer"] + cpu["postgres"], 2)}


def herald_cpu_ms(herald: dict[str, Any]) -> float:
    """Herald's CPU per notification on the same footing as the peer's: its workers, Temporal and PostgreSQL
    (the API's and the load generator's share left out on both sides: the peer's jobs are enqueued directly)."""
    cpu = herald["cpu_ms_per_notification"]
    return round(float(cpu["workers"] + cpu["temporal"] + cpu["postgres"]), 2)


def table_rows(peer: dict[str, Any]) -> list[tuple[str, str]]:
    ours, theirs = peer["herald_cpu_ms_per_notification"], peer["cpu_ms_per_notification_total"]
    return [
        ("peer: polling worker on a PostgreSQL queue, end to end",
         f"{peer['e2e_per_s']} notifications/s (herald, same run: {peer['herald_e2e_per_s']}/s)"),
        ("  CPU ms per notification: herald (workers+temporal+postgres) / peer (worker+postgres)",
         f"{ours} / {theirs} = {round(ours / max(theirs, 1e-9), 1)} x"),
    ]


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(work(sys.argv[1]))
