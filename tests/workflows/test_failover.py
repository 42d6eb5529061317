"""Failover by the channel's integrations as they are when a provider gives up, not as they were at accept: one
deleted or deactivated since is not used, one added is, and with none left the delivery ends with the reason.

The time-skipping server and a real worker that keeps its chains current from the `integration` table (in a
database of this module's own: the SMS integrations here would change every other test's SMS channel). Each
integration is an SMS gateway on a receiver of its own; a test holds one receiver's answer while it changes the
integrations, so the change lands exactly between accept and the failover.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from core.secrets import new_webhook_secret
from core.settings import Settings
from providers.registry import Providers
from services import integrations
from tests.api.conftest import eventually
from tests.conftest import database_of_its_own, free_port
from tests.receivers import HttpReceiver, Reply
from tests.workflows.conftest import Handle, Harness, running_harness, watch_built_providers

PHONE = "+14155552671"
NAMES = ("gw-a", "gw-b", "gw-c")


@pytest.fixture(scope="module")
async def own_pool(pg_server: Any) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    async with database_of_its_own(pg_server, "herald_failover") as own:
        yield own


@pytest.fixture
async def gateways() -> AsyncIterator[dict[str, HttpReceiver]]:
    secret = new_webhook_secret()
    receivers = {name: HttpReceiver(free_port(), secret) for name in NAMES}
    for receiver in receivers.values():
        await receiver.start()
    yield receivers
    for receiver in receivers.values():
        for reply in [r for replies in receiver.script.values() for r in replies]:
            if reply.hold is not None:
                reply.hold.set()  # a failed test must not leave a request hanging
        await receiver.stop()


class Failover:
    """The harness, the worker's live chains and the gateways, with the integration changes a test makes."""

    def __init__(self, harness: Harness, providers: Providers, gateways: dict[str, HttpReceiver]):
        self.harness = harness
        self.providers = providers
        self.gateways = gateways

    async def add(self, name: str, priority: int) -> None:
        await integrations.create(self.harness.pool, self.harness.settings, integration_id=name, channel="sms",
                                  provider="http_gateway", config={"url": f"{self.gateways[name].base}/sms"},
                                  priority=priority, rate_per_s=None, active=True)

    async def worker_holds(self, *names: str) -> None:
        """Waits until the worker's SMS chain is `names`, in that order."""
        async def held() -> bool:
            return [p.name for p in self.providers.chains.get("sms", [])] == list(names)
        await eventually(held, what=f"the worker's sms chain to be {names}")

    async def held_while(self, name: str, failures: int, change: Callable[[], Awaitable[None]]) -> None:
        """`name` fails `failures` attempts; `change` runs while the last of them waits for its answer."""
        hold = asyncio.Event()
        self.gateways[name].script[PHONE] = [Reply(503)] * (failures - 1) + [Reply(503, hold=hold)]
        await eventually(lambda: _calls(self.gateways[name], failures), timeout_s=60,
                         what=f"{name}'s attempt #{failures}")
        try:
            await change()
        finally:
            hold.set()

    async def send(self, **kwargs: Any) -> tuple[str, Handle]:
        return await self.harness.start(channels=["sms"], to={"sms": PHONE}, with_user=False, **kwargs)

    async def attempts(self, notification_id: str) -> list[tuple[str | None, str]]:
        rows = await self.harness.pool.fetch("SELECT provider, outcome FROM delivery_attempt "
                                             "WHERE notification_id = $1 ORDER BY attempt", notification_id)
        return [(r["provider"], r["outcome"]) for r in rows]


async def _calls(receiver: HttpReceiver, count: int) -> bool:
    return len(receiver.for_key(PHONE)) >= count


@pytest.fixture
async def failover(ts_env: WorkflowEnvironment, own_pool: tuple[str, asyncpg.Pool],
                   gateways: dict[str, HttpReceiver], request: pytest.FixtureRequest,
                   monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Failover]:
    url, pool = own_pool
    # "queued": SMS goes through its channel's task queue (a rate limit), Temporal running the retries; by
    # default it is delivered by local activities, the workflow running them.
    queued = getattr(request, "param", "local") == "queued"
    settings = Settings(DATABASE_URL=url, HERALD_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}",
                        HERALD_WEBHOOK_SECRET=new_webhook_secret(), HERALD_WORKFLOW_SANDBOX=True,
                        HERALD_WEBHOOK_ALLOWED_HOSTS="127.0.0.1", HERALD_RATE_LIMITS="sms=100" if queued else "")
    built = watch_built_providers(monkeypatch)
    try:
        async with running_harness(ts_env, pool, settings, request) as harness:
            yield Failover(harness, built[0], gateways)
    finally:
        for item in await integrations.list_all(pool, settings):
            if not item.read_only:
                await integrations.delete(pool, settings, item.id)


@pytest.mark.parametrize("failover", ["local", "queued"], indirect=True)
async def test_an_integration_added_after_accept_takes_over_when_the_first_gives_up(failover: Failover) -> None:
    await failover.add("gw-a", 1)
    await failover.worker_holds("gw-a")
    nid, handle = await failover.send()  # one SMS integration at accept

    async def add_b() -> None:
        await failover.add("gw-b", 2)
        await failover.worker_holds("gw-a", "gw-b")

    await failover.held_while("gw-a", 3, add_b)
    await failover.harness.wait_for(handle, "delivered")
    assert len(failover.gateways["gw-b"].for_key(PHONE)) == 1
    assert await failover.attempts(nid) == [("gw-a", "failed")] * 3 + [("gw-b", "delivered")]
    row = await failover.harness.row(nid)
    assert row["deliveries"][0]["provider"] == "gw-b"
    assert [e["detail"] for e in row["timeline"] if e["event"] == "failover"] == [
        "sms: gw-a gave up (gw-a: HTTP 503 'status 503'); trying the next active one"]


@pytest.mark.parametrize("failover", ["local", "queued"], indirect=True)
async def test_the_failing_integration_deleted_before_failover_hands_over_to_the_next_by_priority(
        failover: Failover) -> None:
    for priority, name in enumerate(NAMES, start=1):
        await failover.add(name, priority)
    await failover.worker_holds(*NAMES)
    nid, handle = await failover.send()

    async def delete_a() -> None:
        await integrations.delete(failover.harness.pool, failover.harness.settings, "gw-a")
        await failover.worker_holds("gw-b", "gw-c")

    await failover.held_while("gw-a", 3, delete_a)
    await failover.harness.wait_for(handle, "delivered")
    # gw-b, the next by priority: counting positions in the chain as it was at accept would land on gw-c.
    assert [len(failover.gateways[n].for_key(PHONE)) for n in NAMES] == [3, 1, 0]
    assert await failover.attempts(nid) == [("gw-a", "failed")] * 3 + [("gw-b", "delivered")]


async def test_the_next_integration_deactivated_after_accept_is_not_used(failover: Failover) -> None:
    await failover.add("gw-a", 1)
    await failover.add("gw-b", 2)
    await failover.worker_holds("gw-a", "gw-b")
    nid, handle = await failover.send()  # two SMS integrations at accept

    async def deactivate_b() -> None:
        await integrations.update(failover.harness.pool, failover.harness.settings, "gw-b",
                                  integrations.Change(active=False))
        await failover.worker_holds("gw-a")

    await failover.held_while("gw-a", 3, deactivate_b)
    state = await failover.harness.wait_for(handle, "dead_lettered")
    # Nothing left to fail over to: the delivery ends with the last provider's own error, no round is spent
    # on a provider that is no longer there.
    assert state.deliveries[0].last_error == "gw-a: HTTP 503 'status 503'"
    assert not failover.gateways["gw-b"].for_key(PHONE)
    assert await failover.attempts(nid) == [("gw-a", "failed")] * 3
    assert "failover" not in [e["event"] for e in (await failover.harness.row(nid))["timeline"]]


async def test_with_no_integration_left_for_the_channel_the_delivery_fails_with_the_reason(
        failover: Failover) -> None:
    await failover.add("gw-a", 1)
    await failover.worker_holds("gw-a")
    send_at = await failover.harness.env.get_current_time() + timedelta(hours=1)
    nid, handle = await failover.send(send_at=send_at)
    await integrations.delete(failover.harness.pool, failover.harness.settings, "gw-a")
    await failover.worker_holds()
    state = await failover.harness.wait_for(handle, "dead_lettered", step=timedelta(minutes=10))
    assert state.deliveries[0].last_error == "no active integration for channel 'sms'"
    assert not failover.gateways["gw-a"].for_key(PHONE)
    assert await failover.attempts(nid) == [(None, "failed")]
