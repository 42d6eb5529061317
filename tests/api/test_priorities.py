"""Under a backlog, higher priorities are taken first, and within a priority categories share the workers:
Temporal task priority and fairness, measured in the order deliveries leave."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.ids import notification_id_for_key
from core.settings import Settings
from core.workflow_ids import notification_workflow_id
from services import starting
from store import notifications, templates
from tests.api.conftest import eventually
from tests.conftest import SECRET
from worker import herald_worker


@dataclass
class Batch:
    priority: str
    category: str | None
    count: int


async def drain_in_order(env: WorkflowEnvironment, pool: asyncpg.Pool, batches: list[Batch]) -> list[list[float]]:
    """Queues every batch (in order) while no delivery worker runs, then drains the backlog two sends at a
    time; returns each batch's send times."""
    settings = Settings(HERALD_TASK_QUEUE=f"prio-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET,
                        HERALD_MAX_CONCURRENT_DELIVERIES=2,
                        HERALD_LOCAL_DELIVERIES=False)  # the backlog forms on the delivery queue
    template = f"prio-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await templates.create(conn, template, None, "x", None)
    limit = asyncio.Semaphore(20)

    async def start(batch: Batch) -> str:
        key = uuid.uuid4().hex
        nid = notification_id_for_key(key)
        async with limit:
            async with pool.acquire() as conn:
                row, _ = await notifications.insert(conn, notifications.NewNotification(
                    id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid),
                    status="accepted", user_id=None, recipient={"sim": "slow:20"}, channels=["sim"],
                    priority=batch.priority, category=batch.category, template=template, template_version=1,
                    data={}, send_at=None))
            await starting.start(env.client, settings, row)
        return nid

    target = env.client.service_client.config.target_host
    ids: list[list[str]] = []
    # First only the workflows run: every delivery task waits in the sim channel's queue, in batch order.
    async with herald_worker(await Client.connect(target), pool, settings, channels=[]):
        for batch in batches:
            ids.append(list(await asyncio.gather(*(start(batch) for _ in range(batch.count)))))
        everyone = [n for group in ids for n in group]

        async def all_waiting() -> bool:
            waiting = await pool.fetchval(
                "SELECT count(*) FROM notification WHERE id = ANY($1) AND status = 'processing'", everyone)
            return bool(waiting == len(everyone))
        await eventually(all_waiting, timeout_s=300, what="the backlog to form")

        async with herald_worker(await Client.connect(target), pool, settings, workflows=False, channels=["sim"]):
            async def send_times() -> dict[str, float] | None:
                rows = await pool.fetch("""SELECT notification_id, extract(epoch FROM at) AS t FROM delivery_attempt
                                           WHERE notification_id = ANY($1) AND outcome = 'delivered'""", everyone)
                return {r["notification_id"]: float(r["t"]) for r in rows} if len(rows) == len(everyone) else None
            done: dict[str, float] = await eventually(send_times, timeout_s=300, what="the whole backlog")
    return [[done[n] for n in group] for group in ids]


async def test_otps_overtake_a_marketing_backlog(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    marketing, otp = await drain_in_order(dev_env, pool, [Batch("marketing", None, 200), Batch("otp", None, 20)])
    before = sum(1 for t in marketing if t < max(otp))
    print(f"\n200 marketing queued before 20 otp: the last otp went out after {before} marketing sends")
    assert before <= 40, before  # arrival order alone would send all 200 first


async def test_one_categorys_blast_does_not_starve_another(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    blast, receipts = await drain_in_order(
        dev_env, pool, [Batch("marketing", "blast", 150), Batch("marketing", "receipts", 20)])
    before = sum(1 for t in blast if t < max(receipts))
    print(f"\n150 'blast' queued before 20 'receipts', same priority: the last receipt went out after {before} "
          "blast sends")
    # Fair sharing interleaves the two categories (about 20 blast sends); arrival order would give 150.
    assert before <= 60, before
