"""The outbox starter of a busy worker: it claims what the worker can start now, and while only a few slots are
free it waits a moment for more instead of paying a claim and a finishing statement per start. A start that is
slow while Temporal answers is waited for, not sent again; one that never went out is. Real PostgreSQL and the
real Temporal dev server; the worker's slots are a stand-in that says how many may start."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.secrets import new_webhook_secret
from core.settings import Settings
from services import outbox as starter
from services import starting
from services.accept import Caller, accept
from services.outbox import BUSY_WAIT_S, GATHER_S, START_BATCH, Starter
from store import outbox, templates, users
from store.notifications import NotificationRecord
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


async def _waiting_starts(pool: asyncpg.Pool, dev_env: WorkflowEnvironment, prefix: str,
                          waiting: int) -> tuple[Settings, Client, list[NotificationRecord]]:
    """`waiting` notifications accepted on a task queue of their own, which no worker polls: the workflows stay
    as their start left them. Returns the settings, a Temporal client and the notifications."""
    settings = Settings(HERALD_TASK_QUEUE=f"{prefix}-{uuid.uuid4().hex[:8]}",
                        HERALD_WEBHOOK_SECRET=new_webhook_secret(),
                        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host)
    client = await Client.connect(settings.temporal_target)
    suffix = uuid.uuid4().hex[:8]
    async with pool.acquire() as conn:
        await templates.create(conn, f"{prefix}-{suffix}", "Hi {{ name }}", "Hello {{ name }}", None)
    await users.create(pool, f"{prefix}u-{suffix}", {"name": "Ada"})
    accepted = [(await accept(pool, settings, _body(f"{prefix}-{suffix}", f"{prefix}u-{suffix}"), None, CALLER))[1]
                for _ in range(waiting)]
    return settings, client, accepted


async def _claims_seen(pool: asyncpg.Pool, dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch,
                       startable: int, batch: int, waiting: int) -> tuple[_Slots, list[tuple[int, int]]]:
    """Runs a starter over `waiting` accepted notifications until all started; returns its slots and, per claim,
    how many times it had asked its slots by then and how many rows it took."""
    settings, client, accepted = await _waiting_starts(pool, dev_env, "st", waiting)
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


class _Rows:
    """Per outbox row, how often the starter claimed it and handed it back (each one an UPDATE of the row), and per
    workflow id, how many start RPCs went out."""

    def __init__(self) -> None:
        self.claimed: Counter[int] = Counter()
        self.released: Counter[int] = Counter()
        self.sent: Counter[str] = Counter()

    def updates_per_row(self) -> float:
        return (sum(self.claimed.values()) + sum(self.released.values())) / len(self.claimed)


async def _starts_seen(pool: asyncpg.Pool, dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch,
                       waiting: int, start: Any) -> tuple[_Rows, list[str]]:
    """Runs a starter whose start RPCs go through `start(real_start, rows, *args, **kw)` over `waiting` accepted
    notifications until none waits; returns what it did and the notifications' workflow ids."""
    settings, client, accepted = await _waiting_starts(pool, dev_env, "sl", waiting)
    rows = _Rows()
    real_claim, real_release, real_start = outbox.claim, outbox.release, starting.start_notification_workflow

    async def claim(conn: asyncpg.Pool, task_queue: str, limit: int, lease_s: float,
                    **kw: int) -> list[ClaimedStart]:
        taken = await real_claim(conn, task_queue, limit, lease_s, **kw)
        if task_queue == settings.task_queue:
            rows.claimed.update(c.start_id for c in taken)
        return taken

    async def release(conn: asyncpg.Pool, start_ids: list[int]) -> None:
        rows.released.update(start_ids)
        await real_release(conn, start_ids)

    async def start_workflow(*args: Any, **kw: Any) -> Any:
        if kw.get("task_queue") != settings.task_queue:
            return await real_start(*args, **kw)
        return await start(real_start, rows, *args, **kw)

    monkeypatch.setattr(outbox, "claim", claim)
    monkeypatch.setattr(outbox, "release", release)
    monkeypatch.setattr("services.outbox.start_notification_workflow", start_workflow)
    task = asyncio.create_task(Starter(pool, client, settings, _Slots(10)).run())
    try:
        await eventually(lambda: _all_started(pool, settings.task_queue), what="every start")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    ids = [n.workflow_id for n in accepted]
    for workflow_id in ids:
        described = await client.get_workflow_handle(workflow_id).describe()
        assert described.id == workflow_id  # started, whatever its answer took
        await client.get_workflow_handle(workflow_id).terminate("test over")
    started = await pool.fetch("SELECT notification_id, count(*) AS n FROM notification_event "
                               "WHERE event = 'started' AND notification_id = ANY($1::text[]) GROUP BY 1",
                               [n.id for n in accepted])
    assert sorted(r["n"] for r in started) == [1] * waiting
    return rows, ids


async def test_a_start_answered_late_while_temporal_answers_is_waited_for_and_not_sent_again(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    # A busy server: each start goes through, and its answer comes after START_TIMEOUT_S.
    monkeypatch.setattr(starter, "START_TIMEOUT_S", 0.3)

    async def slow(real_start: Any, rows: _Rows, client: Client, inp: Any, **kw: Any) -> Any:
        rows.sent[inp.notification_id] += 1
        handle = await real_start(client, inp, **kw)
        if rows.sent[inp.notification_id] == 1:  # the workflow's creation is what took the time
            await asyncio.sleep(1.0)
        return handle

    rows, _ = await _starts_seen(pool, dev_env, monkeypatch, 3, slow)

    assert sorted(rows.sent.values()) == [1, 1, 1], rows.sent
    assert not rows.released, rows.released
    assert rows.updates_per_row() == 1.0


async def test_a_start_that_never_went_out_is_sent_again(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    # Temporal answers, but each row's first start hangs before it reaches the server: past SLOW_START_S the row
    # goes back and its next claim starts it.
    monkeypatch.setattr(starter, "START_TIMEOUT_S", 0.3)
    monkeypatch.setattr(starter, "SLOW_START_S", 1.0)

    async def lost_once(real_start: Any, rows: _Rows, client: Client, inp: Any, **kw: Any) -> Any:
        rows.sent[inp.notification_id] += 1
        if rows.sent[inp.notification_id] == 1:
            await asyncio.Event().wait()
        return await real_start(client, inp, **kw)

    rows, _ = await _starts_seen(pool, dev_env, monkeypatch, 2, lost_once)

    assert sorted(rows.sent.values()) == [2, 2], rows.sent
    assert sorted(rows.claimed.values()) == [2, 2] and sorted(rows.released.values()) == [1, 1]
