"""Provider rate limits hold across workers: Temporal enforces them on the channel's task queue."""

from __future__ import annotations

import uuid

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


async def _send(pool: asyncpg.Pool, env: WorkflowEnvironment, settings: Settings, count: int) -> list[str]:
    name = f"rl-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await templates.create(conn, name, None, "x", None)
    ids = []
    for _ in range(count):
        key = uuid.uuid4().hex
        nid = notification_id_for_key(key)
        async with pool.acquire() as conn:
            row, _ = await notifications.insert(conn, notifications.NewNotification(
                id=nid, idempotency_key=key, request_hash="h",
                workflow_id=notification_workflow_id(nid), status="accepted",
                user_id=None, recipient={"sim": "ok"}, channels=["sim"], priority="marketing", category=None,
                template=name, template_version=1, data={}, send_at=None))
        await starting.start(env.client, settings, row)
        ids.append(nid)
    return ids


async def _send_times(pool: asyncpg.Pool, ids: list[str]) -> list[float]:
    async def all_sent() -> list[float] | None:
        rows = await pool.fetch("""SELECT extract(epoch FROM at) AS t FROM delivery_attempt
                                   WHERE notification_id = ANY($1) AND outcome = 'delivered' ORDER BY at""", ids)
        return [float(r["t"]) for r in rows] if len(rows) == len(ids) else None
    times: list[float] = await eventually(all_sent, timeout_s=30, what="every send")
    return times


async def test_two_workers_together_keep_to_the_channel_rate(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    def settings(limits: str) -> Settings:
        return Settings(HERALD_TASK_QUEUE=f"rl-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET,
                        HERALD_RATE_LIMITS=limits)

    # Two workers as two processes would run them: each with a client of its own.
    target = dev_env.client.service_client.config.target_host
    first, second = await Client.connect(target), await Client.connect(target)

    # Side by side: the same ten sends without a limit, then with 2 per second, each with two workers.
    unlimited = settings("")
    async with herald_worker(first, pool, unlimited), herald_worker(second, pool, unlimited):
        free = await _send_times(pool, await _send(pool, dev_env, unlimited, 10))
    limited = settings("sim=2")
    async with herald_worker(first, pool, limited), herald_worker(second, pool, limited):
        held = await _send_times(pool, await _send(pool, dev_env, limited, 10))

    assert free[-1] - free[0] < 2.0, "without a limit ten sends take well under the limited time"
    # The server's limiter lets a small burst through at once (measured: 3), then one send per 0.5 s.
    # Times are read after each send, so a loaded machine blurs single gaps: judge the whole run.
    burst = 3
    steady = held[burst - 1:]
    assert steady[-1] - steady[0] >= (len(steady) - 1) / 2 * 0.8, [round(t - held[0], 2) for t in held]
