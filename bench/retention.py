"""Bench part `retention`: accept latency with and without retention deleting many aged-out notifications at
the same time, in one run.

The database first gets `rows` delivered notifications from 40 days ago (each with a delivery and an attempt,
stored by COPY). The same open-loop load then runs twice: once alone, once while the retention workflow, started
through Temporal on the bench's worker as its schedule would, deletes them. Only requests answered while the
deletion ran count in the second p99, so a deletion shorter than the load window cannot flatter it. A deletion
longer than the load (HERALD_RETENTION_DUTY paces it) is stopped when the load's backlog is final, and its rate
so far gives the time a million rows would take.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.client import WorkflowExecutionStatus

from activities.retention import RetentionInput
from bench import load
from bench.progress import Progress
from bench.stack import Stack, db_pool
from core.workflow_ids import notification_workflow_id
from workflows.retention import RetentionWorkflow

CHUNK = 50_000


async def seed_aged_out(stack: Stack, rows: int) -> float:
    """`rows` notifications delivered 40 days ago; returns the seconds it took."""
    started = time.monotonic()
    old = datetime.now(UTC) - timedelta(days=40)
    pool = await db_pool(stack, 2)
    progress = Progress("retention: seed aged-out rows", rows)
    try:
        for start in range(0, rows, CHUNK):
            ids = [f"aged-{i:08d}" for i in range(start, min(start + CHUNK, rows))]
            async with pool.acquire() as conn, conn.transaction():
                await conn.copy_records_to_table(
                    "notification", columns=["id", "idempotency_key", "request_hash", "workflow_id", "status",
                                             "channels", "priority", "template", "template_version", "created_at",
                                             "updated_at", "delivered_at"],
                    records=[(i, i, "h", notification_workflow_id(i), "delivered", ["sim"], "transactional",
                              load.TEMPLATE, 1, old, old, old) for i in ids])
                await conn.copy_records_to_table("delivery", columns=["notification_id", "channel", "status"],
                                                 records=[(i, "sim", "delivered") for i in ids])
                await conn.copy_records_to_table(
                    "delivery_attempt", columns=["notification_id", "channel", "attempt", "at", "outcome"],
                    records=[(i, "sim", 1, old, "delivered") for i in ids])
            progress.update(start + len(ids))
        await pool.execute("ANALYZE notification, delivery, delivery_attempt")
        # The seed's writes go to disk now, not in a checkpoint during the first timed phase.
        await pool.execute("CHECKPOINT")
    finally:
        await pool.close()
    progress.close()
    return time.monotonic() - started


async def accept_load(stack: Stack, rate: float, seconds: float, label: str) -> load.Sent:
    """The open-loop load, then the wait until its backlog is final, so the next phase starts from rest."""
    async with load.Sender(stack.api_url, stack.headers) as sender:
        sent = await load.open_loop(sender, rate, seconds, load.body_for, Progress(label, int(rate * seconds)))
    pool = await db_pool(stack)
    try:
        await load.wait_final(pool, sent.ids, Progress(f"{label}: drain", len(sent.ids)), check=stack.check_alive)
    finally:
        await pool.close()
    return sent


def p99_answered_before(sent: load.Sent, until: float) -> tuple[float, int]:
    during = [ms for ms, at in zip(sent.latencies_ms, sent.done_at, strict=True) if at <= until]
    return load.percentile(during, 99), len(during)


async def aged_left(stack: Stack) -> int:
    pool = await db_pool(stack, 1)
    try:
        left: int = await pool.fetchval("SELECT count(*) FROM notification WHERE id LIKE 'aged-%'")
    finally:
        await pool.close()
    return left


async def measure(stack: Stack, rows: int, rate: float, seconds: float) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.headers, timeout=60) as http:
        await load.prepare(http)
    seed_s = await seed_aged_out(stack, rows)
    alone = await accept_load(stack, rate, seconds, f"retention: ingest at {rate:.0f}/s, no deletion")

    started = time.monotonic()
    deletion = await stack.client.start_workflow(
        RetentionWorkflow.run, RetentionInput(), id=f"retention-bench-{uuid.uuid4().hex[:8]}",
        task_queue=stack.env["HERALD_TASK_QUEUE"])
    await asyncio.sleep(1)  # the first batch is under way before the first request
    during = await accept_load(stack, rate, seconds, f"retention: ingest at {rate:.0f}/s, deleting {rows:,}")
    # Paced by HERALD_RETENTION_DUTY, a pass over this many rows outlasts the load: what counts is the latency
    # while it runs and the rate it deletes at, so it is stopped here (the next pass would go on from there).
    ended = time.monotonic()
    deleted = rows - await aged_left(stack)
    finished = (await deletion.describe()).status != WorkflowExecutionStatus.RUNNING
    if not finished:
        await deletion.terminate("the bench measured what it needed")
    deletion_s = ended - started
    p99_during, answered_during = p99_answered_before(during, ended)
    p99_alone = load.percentile(alone.latencies_ms, 99)
    per_s = deleted / max(deletion_s, 1e-9)
    return {
        "rows": rows, "rate_per_s": rate, "seconds": seconds, "seed_s": round(seed_s, 1),
        "deleted_notifications": deleted, "deletion_s": round(deletion_s, 1), "deletion_finished": finished,
        "deleted_per_s": round(per_s), "million_rows_s": round(1_000_000 / max(per_s, 1e-9)),
        "accept_p99_ms_alone": round(p99_alone, 1),
        "accept_p99_ms_deleting": round(p99_during, 1),
        "answered_while_deleting": answered_during, "answered": len(during.ids),
        "refused": {"alone": alone.rejected, "deleting": during.rejected},
        "ratio_p99_deleting_to_alone": round(p99_during / max(p99_alone, 1e-9), 2),
    }


def table_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"retention: accept p99 at {r['rate_per_s']:.0f}/s alone / while deleting {r['rows']:,} aged-out",
         f"{r['accept_p99_ms_alone']} / {r['accept_p99_ms_deleting']} ms = {r['ratio_p99_deleting_to_alone']} "
         f"({r['answered_while_deleting']} of {r['answered']} answered during the deletion)"),
        ("  retention: deletion (paced by HERALD_RETENTION_DUTY)",
         f"{r['deleted_notifications']:,} notifications in {r['deletion_s']} s ({r['deleted_per_s']:,}/s"
         + ("" if r["deletion_finished"] else f"; 1,000,000 in {r['million_rows_s'] / 60:.0f} min at that rate")
         + ")"),
    ]
