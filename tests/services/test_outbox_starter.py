"""The outbox starter of a busy worker: it claims what the worker can start now, and while only a few slots are
free it waits a moment for more instead of paying a claim and a finishing statement per start. Real
PostgreSQL and the real Temporal dev server; the worker's slots are a stand-in that says how many may start."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.secrets import new_webhook_secret
from core.settings import Settings
from services.accept import Caller, accept
from services.outbox import BUSY_WAIT_S, GATHER_S, START_BATCH, Starter
from store import outbox, templates, users
from store.outbox import ClaimedStart
from tests.api.conftest import eventually
from tests.services.test_accept import _body

CALLER = Caller(key="starter-test", is_admin=False)


class _Slots:
    """Says `n` may start, and counts how often the starter asked."""

    def __init__(self, n: int):
        self.n = n
        self.asked = 0

    def __call__(self) -> int:
        self.asked += 1
        return self.n


async def _claims_seen(pool: asyncpg.Pool, dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch,
                       startable: int, batch: int, waiting: int) -> tuple[_Slots, list[tuple[int, int]]]:
    """Runs a starter over `waiting` accepted notifications until all started; returns its slots and, per claim,
    how many times it had asked its slots by then and how many rows it took."""
    # A task queue no worker polls: the workflows stay as their start left them.
    settings = Settings(HERALD_TASK_QUEUE=f"starter-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret(),
                        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host)
    client = await Client.connect(settings.temporal_target)
    suffix = uuid.uuid4().hex[:8]
    async with pool.acquire() as conn:
        await templates.create(conn, f"st-{suffix}", "Hi {{ name }}", "Hello {{ name }}", None)
    await users.create(pool, f"stu-{suffix}", {"name": "Ada"})
    accepted = [(await accept(pool, settings, _body(f"st-{suffix}", f"stu-{suffix}"), None, CALLER))[1]
                for _ in range(waiting)]
    slots = _Slots(startable)
    claims: list[tuple[int, int]] = []
    real_claim = outbox.claim

    async def claim(conn: asyncpg.Pool, task_queue: str, limit: int, lease_s: float,
                    **kw: int) -> list[ClaimedStart]:
        taken = await real_claim(conn, task_queue, limit, lease_s, **kw)
        if task_queue == settings.task_queue:  # other workers' starters in this process claim through it too
            claims.append((slots.asked, len(taken)))
        return taken

    monkeypatch.setattr(outbox, "claim", claim)  # the module the starter calls it from
    task = asyncio.create_task(Starter(pool, client, settings, slots, batch=batch).run())
    try:
        await eventually(lambda: _all_started(pool, settings.task_queue), what="every start")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for n in accepted:
            await client.get_workflow_handle(n.workflow_id).terminate("test over")
    return slots, claims


async def _all_started(pool: asyncpg.Pool, task_queue: str) -> bool:
    return await outbox.waiting(pool, task_queue) == 0


async def test_a_busy_worker_gathers_free_slots_before_it_claims(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    _, claims = await _claims_seen(pool, dev_env, monkeypatch, startable=2, batch=10, waiting=3)

    # Fewer slots than a batch: the starter asked again for GATHER_S before the first claim, then took only what
    # may start.
    first_asked, first_taken = claims[0]
    assert first_asked >= GATHER_S / BUSY_WAIT_S, claims
    assert first_taken == 2
    assert sum(taken for _, taken in claims) == 3


async def test_a_worker_with_a_batch_of_free_slots_claims_at_once(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    _, claims = await _claims_seen(pool, dev_env, monkeypatch, startable=10, batch=10, waiting=3)

    assert claims[0] == (1, 3)


async def test_a_worker_with_every_slot_free_still_claims_a_batch_at_a_time(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hundred starts sent together kept a busy server past START_TIMEOUT_S: each claim sends a batch.
    _, claims = await _claims_seen(pool, dev_env, monkeypatch, startable=100, batch=10, waiting=START_BATCH + 5)

    assert [taken for _, taken in claims[:2]] == [START_BATCH, 5]
