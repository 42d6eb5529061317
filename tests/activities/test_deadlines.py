"""One attempt at a time, each one bounded: the deliver activity with real PostgreSQL and real receivers that
misbehave (an answer trickled a byte at a time, an answer that never ends, an SMTP relay that answers each
command slowly). Each test bounds itself with asyncio.wait_for, so one that fails does so promptly."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from temporalio.activity import ActivityCancellationDetails
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deliver import ATTEMPT_SHARE, LEASE_SHARE, DeliveryActivities
from activities.errors import TRANSIENT_DELIVERY
from core.models import DeliverInput, DeliverResult
from core.settings import Settings
from providers.base import OutgoingMessage, TransientDeliveryError
from providers.http_gateway import MAX_RESPONSE_BYTES
from providers.registry import Providers, build_providers
from providers.smtp import SmtpConfig, SmtpProvider
from store import leases, notifications
from tests.activities.test_deliver_once import _stored_notification
from tests.conftest import SECRET, free_port
from tests.receivers import HttpReceiver, Reply

# Far more than any bounded attempt here takes; what a test that fails on a hanging attempt waits at most.
BOUND_S = 25


def _env(timeout_s: float) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=timeout_s))
    return env


@pytest.fixture
async def providers(pool: asyncpg.Pool, http_receiver: HttpReceiver) -> AsyncIterator[Providers]:
    built = build_providers(pool, Settings(HERALD_WEBHOOK_SECRET=SECRET,
                                           HERALD_PUSH_WEBHOOK_URL=f"{http_receiver.base}/push"))
    yield built
    await built.aclose()


async def _push(pool: asyncpg.Pool) -> tuple[str, str, DeliverInput]:
    nid = await _stored_notification(pool, "push")
    token = f"tok-{uuid.uuid4().hex}"
    return nid, token, DeliverInput(notification_id=nid, channel="push", address=token, subject="S", body="B",
                                    user_id=None, prior_attempts=0, max_attempts=3)


async def test_an_answer_trickled_a_byte_at_a_time_ends_the_attempt_at_its_deadline(
        pool: asyncpg.Pool, http_receiver: HttpReceiver, providers: Providers) -> None:
    nid, token, inp = await _push(pool)
    http_receiver.script[token] = [Reply(trickle_s=0.5)]  # every read is quick; the answer never completes
    with pytest.raises(ApplicationError) as failed:
        await asyncio.wait_for(_env(2).run(DeliveryActivities(pool, providers.chains).deliver, inp), BOUND_S)
    assert failed.value.type == TRANSIENT_DELIVERY and "within" in failed.value.message
    assert not failed.value.non_retryable
    assert await leases.holder(pool, nid, "push") is None  # the attempt ended: the next may start at once
    assert [a.outcome for a in await notifications.attempt_log(pool, nid)] == ["failed"]


async def test_an_answer_that_never_ends_is_read_no_further_than_the_cap(
        pool: asyncpg.Pool, http_receiver: HttpReceiver, providers: Providers) -> None:
    nid, token, inp = await _push(pool)
    http_receiver.script[token] = [Reply(endless=True)]
    with pytest.raises(ApplicationError) as failed:
        await asyncio.wait_for(_env(10).run(DeliveryActivities(pool, providers.chains).deliver, inp), BOUND_S)
    assert failed.value.type == TRANSIENT_DELIVERY and str(MAX_RESPONSE_BYTES) in failed.value.message
    assert await notifications.get_receipt(pool, nid, "push") is None


async def test_a_second_attempt_while_the_first_is_in_flight_sends_nothing(
        pool: asyncpg.Pool, http_receiver: HttpReceiver, providers: Providers) -> None:
    """Worker A's attempt is still talking to the receiver (a stalled worker, a lost heartbeat) when Temporal
    hands the next attempt to worker B: B must not send."""
    nid, token, inp = await _push(pool)
    http_receiver.script[token] = [Reply(trickle_s=0.5)]
    env_a = _env(30)
    first = asyncio.create_task(env_a.run(DeliveryActivities(pool, providers.chains).deliver, inp))
    for _ in range(500):
        if http_receiver.for_key(token):
            break
        await asyncio.sleep(0.02)
    other = build_providers(pool, Settings(HERALD_WEBHOOK_SECRET=SECRET,
                                           HERALD_PUSH_WEBHOOK_URL=f"{http_receiver.base}/push"))
    try:
        with pytest.raises(ApplicationError) as refused:
            second = dataclasses.replace(_env(30).info, attempt=2)
            env_b = ActivityEnvironment()
            env_b.info = second
            await asyncio.wait_for(env_b.run(DeliveryActivities(pool, other.chains).deliver, inp), BOUND_S)
        assert refused.value.type == TRANSIENT_DELIVERY and "in flight" in refused.value.message
        assert len(http_receiver.for_key(token)) == 1
        # A timeout's cancel stops A at once (no shield): its connection closes and its lease goes.
        env_a.cancel(ActivityCancellationDetails(timed_out=True))
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(first, BOUND_S)
        assert await leases.holder(pool, nid, "push") is None
        third = ActivityEnvironment()
        third.info = dataclasses.replace(_env(30).info, attempt=3)
        done = await asyncio.wait_for(third.run(DeliveryActivities(pool, other.chains).deliver, inp), BOUND_S)
    finally:
        first.cancel()
        await other.aclose()
    assert done.attempt == 3 and len(http_receiver.for_key(token)) == 2
    for _ in range(500):  # the receiver notices A's hang-up when it next writes
        if http_receiver.open[token] == 0:
            break
        await asyncio.sleep(0.02)
    assert http_receiver.max_open[token] == 1


async def test_a_workflow_cancel_lets_the_send_finish_and_a_timeout_does_not(pool: asyncpg.Pool) -> None:
    built = build_providers(pool, Settings(HERALD_WEBHOOK_SECRET=SECRET, HERALD_SIM_ENABLED=True))
    chains = built.chains
    await built.aclose()  # sim needs no connections
    results: dict[str, DeliverResult | BaseException] = {}
    for reason, details in (("cancel", ActivityCancellationDetails(cancel_requested=True)),
                            ("timeout", ActivityCancellationDetails(timed_out=True)),
                            ("shutdown", ActivityCancellationDetails(worker_shutdown=True))):
        nid = await _stored_notification(pool, "sim")
        env = _env(30)
        task = asyncio.create_task(env.run(DeliveryActivities(pool, chains).deliver, DeliverInput(
            notification_id=nid, channel="sim", address="slow:1500", subject="S", body="B", user_id=None,
            prior_attempts=0, max_attempts=3)))
        for _ in range(500):  # until the lease is taken: a few reads under it come before the send
            if await leases.holder(pool, nid, "sim") is not None:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # those reads are done and the 1.5 s send is under way, on a busy machine too
        env.cancel(details)
        try:
            results[reason] = await asyncio.wait_for(task, BOUND_S)
        except (asyncio.CancelledError, Exception) as exc:
            results[reason] = exc
        assert await leases.holder(pool, nid, "sim") is None
        sent = await notifications.get_receipt(pool, nid, "sim")
        assert (sent is not None) == (reason == "cancel"), reason
    assert isinstance(results["cancel"], DeliverResult)
    assert isinstance(results["timeout"], asyncio.CancelledError)
    assert isinstance(results["shutdown"], asyncio.CancelledError)


async def test_a_lease_left_by_a_dead_attempt_expires_before_the_next_attempt_is_due(pool: asyncpg.Pool) -> None:
    """The lease outlives the attempt's deadline (it covers the whole send) and ends before the activity's
    timeout (a retry after a worker died finds it gone). Taking and expiry are PostgreSQL's clock."""
    assert 0 < ATTEMPT_SHARE < LEASE_SHARE < 1
    nid = await _stored_notification(pool, "sim")
    assert await leases.acquire(pool, notification_id=nid, channel="sim", holder="dead", ttl_s=60) is None
    left = await leases.acquire(pool, notification_id=nid, channel="sim", holder="next", ttl_s=60)
    assert left is not None and 50 < left <= 60
    await leases.release(pool, notification_id=nid, channel="sim", holder="next")  # not its lease: no effect
    assert await leases.holder(pool, nid, "sim") == "dead"
    await pool.execute("UPDATE delivery_lease SET expires_at = now() - interval '1 second' "
                       "WHERE notification_id = $1", nid)  # the dead worker's lease has run out
    assert await leases.acquire(pool, notification_id=nid, channel="sim", holder="next", ttl_s=60) is None
    assert await leases.holder(pool, nid, "sim") == "next"


class _SlowSmtp:
    """A real SMTP server on loopback that answers every command after `pause_s`: each read is well within a
    per-operation timeout, the whole exchange is not."""

    def __init__(self, pause_s: float):
        self.pause_s = pause_s
        self.accepted = 0
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _SlowSmtp:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _reply(self, writer: asyncio.StreamWriter, line: bytes) -> None:
        await asyncio.sleep(self.pause_s)
        writer.write(line)
        await writer.drain()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._reply(writer, b"220 slow.test ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    await self._reply(writer, b"354 go on\r\n")
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                    self.accepted += 1
                    await self._reply(writer, b"250 queued\r\n")
                elif verb == b"QUIT":
                    await self._reply(writer, b"221 bye\r\n")
                    break
                else:
                    await self._reply(writer, b"250 ok\r\n")
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def test_an_smtp_relay_that_answers_each_command_slowly_is_cut_at_the_whole_exchanges_deadline() -> None:
    async with _SlowSmtp(pause_s=0.5) as relay:  # six replies: 3 s for the exchange, 0.5 s for each read
        provider = SmtpProvider("smtp", SmtpConfig(host="127.0.0.1", port=relay.port, sender="h@example.com",
                                                   timeout_s=1.5))
        message = OutgoingMessage(notification_id="n-1", channel="email", address="a@example.com",
                                  subject="S", body="B", user_id=None, attempt=1)
        with pytest.raises(TransientDeliveryError) as failed:
            await asyncio.wait_for(provider.send(message), BOUND_S)
    assert "within 1.5 s" in failed.value.message and relay.accepted == 0
