"""A callback's events applied in as few statements as they need, on real PostgreSQL: arrivals alone in one
statement, endings in one transaction of two (with its BEGIN and COMMIT, four round trips, the status relays'
wake-up included), and still each (event, delivery) once, endings before arrivals,
the status webhooks' rows and the notification's `undelivered` as when each event took statements of its own.

On a database of its own: a webhook subscription here would queue rows for every notification of the shared
stack."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from core.ids import notification_id_for_key
from core.workflow_ids import notification_workflow_id
from providers.feedback import FeedbackEvent, Kind
from services import feedback
from store import feedback as store_feedback
from store import notifications, suppressions
from tests.conftest import database_of_its_own
from tests.statements import CountingPool, CountingSessions


@pytest.fixture(scope="module")
async def own_pool(pg_server: Any) -> AsyncIterator[asyncpg.Pool]:
    async with database_of_its_own(pg_server, "herald_feedback") as (_, pool):
        yield pool


async def sent(pool: asyncpg.Pool, *channels: str) -> tuple[str, str, str]:
    """A notification whose email the provider accepted (its receipt written); its other channels are still on
    their way: (notification id, address, provider message id)."""
    key, address = uuid.uuid4().hex, f"{uuid.uuid4().hex[:8]}@example.com"
    nid = notification_id_for_key(key)
    recipient = {"email": address, **({"sim": "ok"} if "sim" in channels else {})}
    async with pool.acquire() as conn:
        await notifications.insert(conn, notifications.NewNotification(
            id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid),
            status="delivered", user_id=None, recipient=recipient, channels=["email", *channels],
            priority="transactional", category=None, template="t", template_version=1, data={}, send_at=None))
    message_id = f"<{uuid.uuid4().hex}@herald.test>"
    await notifications.save_receipt(pool, notification_id=nid, channel="email", provider="smtp",
                                     provider_message_id=message_id, attempt=1)
    return nid, address, message_id


def event(message_id: str, kind: Kind, *, event_id: str | None = None, permanent: bool = True,
          at: datetime | None = None, reason: str = "550 no such user") -> FeedbackEvent:
    return FeedbackEvent(provider_message_id=message_id.strip("<>"), kind=kind, permanent=permanent, reason=reason,
                         occurred_at=at, address=None, event_id=event_id or uuid.uuid4().hex)


async def timeline(pool: asyncpg.Pool, nid: str) -> list[tuple[str, str]]:
    """The timeline after the accept's own entry."""
    rows = await pool.fetch("SELECT event, detail FROM notification_event WHERE notification_id = $1 "
                            "ORDER BY id OFFSET 1", nid)
    return [(r["event"], r["detail"]) for r in rows]


async def delivery(pool: asyncpg.Pool, nid: str, channel: str = "email") -> asyncpg.Record:
    row = await pool.fetchrow("SELECT status, confirmed_at, last_error FROM delivery WHERE notification_id = $1 "
                              "AND channel = $2", nid, channel)
    assert row is not None
    return row


async def test_a_callback_of_arrivals_is_one_statement(own_pool: asyncpg.Pool) -> None:
    nid, _, message_id = await sent(own_pool)
    arrived = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    events = [event(message_id, "delivered", event_id="d-" + nid, at=arrived),
              event("<nobody@herald.test>", "delivered"), event(message_id, "other")]
    counting = CountingPool(own_pool)

    applied = await feedback.apply(cast(asyncpg.Pool, counting), "src", events)

    assert (applied.applied, applied.duplicate, applied.unknown, applied.ignored) == (1, 0, 1, 1)
    assert len(counting.statements) == 1
    row = await delivery(own_pool, nid)
    assert (row["status"], row["confirmed_at"]) == ("delivered", arrived)
    again = await feedback.apply(cast(asyncpg.Pool, counting), "src", events[:1])
    assert (again.applied, again.duplicate) == (0, 1)
    assert len(counting.statements) == 2
    assert [e for e, _ in await timeline(own_pool, nid)].count("confirmed") == 1


async def test_a_callback_of_endings_is_two_statements_in_one_transaction_and_wakes_the_relays(
        own_pool: asyncpg.Pool) -> None:
    hook = f"hook-{uuid.uuid4().hex[:8]}"
    # Bounces and complaints only: the `undelivered` status trigger, which sends a NOTIFY of its own, queues nothing.
    await own_pool.execute("INSERT INTO webhook_subscription (id, url, events) VALUES ($1, $2, $3)",
                           hook, "http://127.0.0.1:9/hook", ["bounced", "complained"])
    woken = asyncio.Event()
    async with own_pool.acquire() as listening:
        def wake(*_: Any) -> None:
            woken.set()
        await listening.add_listener("herald_status_event", wake)
        try:
            bounced, _, bounced_id = await sent(own_pool)
            complained, _, complained_id = await sent(own_pool)
            arrived, _, arrived_id = await sent(own_pool)
            soft, _, soft_id = await sent(own_pool)
            counting = CountingSessions(own_pool)

            applied = await feedback.apply(
                cast(asyncpg.Pool, counting), "src",
                [event(bounced_id, "bounced"), event(complained_id, "complained", reason="abuse"),
                 event(arrived_id, "delivered", at=datetime.now(UTC)),
                 event(soft_id, "bounced", permanent=False, reason="452 mailbox full")])

            assert applied.applied == 4
            sent_statements = [" ".join(q.split())[:60] for q in counting.statements]
            assert len(sent_statements) == 4, "\n".join(sent_statements)
            assert sent_statements[0].startswith("BEGIN") and sent_statements[-1].startswith("COMMIT"), \
                sent_statements
            await asyncio.wait_for(woken.wait(), timeout=5)
            queued = await own_pool.fetch("SELECT notification_id, type FROM status_event WHERE subscription_id = $1",
                                          hook)
        finally:
            await listening.remove_listener("herald_status_event", wake)
            await own_pool.execute("DELETE FROM status_event WHERE subscription_id = $1", hook)
            await own_pool.execute("DELETE FROM webhook_subscription WHERE id = $1", hook)
    assert {(r["notification_id"], r["type"]) for r in queued} == {(bounced, "bounced"), (complained, "complained")}
    assert (await delivery(own_pool, arrived))["status"] == "delivered"
    assert (await delivery(own_pool, soft))["status"] == "delivered"
    for ended in (bounced, complained):
        assert (await notifications.get(own_pool, ended)).status == "undelivered"  # type: ignore[union-attr]


async def test_in_one_callback_a_bounce_wins_over_its_delivered_and_a_repeat_applies_once(
        own_pool: asyncpg.Pool) -> None:
    bounced, address, bounced_id = await sent(own_pool)
    soft, soft_address, soft_id = await sent(own_pool)
    now = datetime.now(UTC)
    bounce = event(bounced_id, "bounced", event_id="b-" + bounced)
    events = [event(bounced_id, "delivered", at=now - timedelta(minutes=1)), bounce, bounce,
              event(soft_id, "bounced", permanent=False, reason="452 mailbox full"),
              event(soft_id, "delivered", at=now)]

    applied = await feedback.apply(own_pool, "src", events)

    assert (applied.applied, applied.duplicate, applied.unknown) == (4, 1, 0)
    row = await delivery(own_pool, bounced)
    assert (row["status"], row["confirmed_at"], row["last_error"]) == ("bounced", None, "550 no such user")
    assert await timeline(own_pool, bounced) == [
        ("bounced", "email bounced (smtp): 550 no such user"),
        ("undelivered", "email bounced (smtp): 550 no such user")]
    assert (await notifications.get(own_pool, bounced)).status == "undelivered"  # type: ignore[union-attr]
    suppression = await suppressions.get(own_pool, "email", address)
    assert suppression is not None and suppression.reason == "bounced: 550 no such user"

    row = await delivery(own_pool, soft)
    assert (row["status"], row["confirmed_at"]) == ("delivered", now)
    assert [e for e, _ in await timeline(own_pool, soft)] == ["confirmed", "soft_bounce"]
    assert await suppressions.get(own_pool, "email", soft_address) is None


async def test_an_ending_queues_its_status_webhook_and_the_undelivered_one_names_it(own_pool: asyncpg.Pool) -> None:
    hook = f"hook-{uuid.uuid4().hex[:8]}"
    await own_pool.execute("INSERT INTO webhook_subscription (id, url, events) VALUES ($1, $2, $3)",
                           hook, "http://127.0.0.1:9/hook", ["bounced", "complained", "undelivered"])
    try:
        one_channel, _, one_id = await sent(own_pool)
        two_channels, _, two_id = await sent(own_pool, "sim")
        applied = await feedback.apply(own_pool, "src", [event(one_id, "complained", reason="abuse"),
                                                         event(two_id, "bounced")])
        assert applied.applied == 2
        rows = await own_pool.fetch("SELECT notification_id, type, payload FROM status_event "
                                    "WHERE subscription_id = $1 ORDER BY id", hook)
    finally:
        await own_pool.execute("DELETE FROM status_event WHERE subscription_id = $1", hook)
        await own_pool.execute("DELETE FROM webhook_subscription WHERE id = $1", hook)

    queued = {(r["notification_id"], r["type"]): r["payload"] for r in rows}
    assert set(queued) == {(one_channel, "complained"), (one_channel, "undelivered"), (two_channels, "bounced")}
    complained = queued[one_channel, "complained"]
    assert (complained["channel"], complained["detail"]) == ("email", "email complained (smtp): abuse")
    assert [(d["channel"], d["status"]) for d in complained["deliveries"]] == [("email", "complained")]
    assert queued[one_channel, "undelivered"]["detail"] == "email complained (smtp): abuse"
    # The other channel has not ended: the notification keeps its status, the payload shows both as they are.
    assert [d["status"] for d in queued[two_channels, "bounced"]["deliveries"]] == ["bounced", "delivered"]
    assert (await notifications.get(own_pool, two_channels)).status == "delivered"  # type: ignore[union-attr]


async def test_callbacks_racing_with_the_same_events_apply_each_once(own_pool: asyncpg.Pool) -> None:
    deliveries = [await sent(own_pool) for _ in range(6)]
    bounces = [event(message_id, "bounced", event_id="r-" + nid) for nid, _, message_id in deliveries]
    arrivals = [event(message_id, "delivered", event_id="a-" + nid, at=datetime.now(UTC))
                for nid, _, message_id in deliveries]

    results = await asyncio.gather(*(feedback.apply(own_pool, "src", order)
                                     for _ in range(4)
                                     for order in (bounces + arrivals, arrivals[::-1], bounces[::-1])))

    assert sum(r.applied for r in results) == 12
    for nid, _, _ in deliveries:
        events = [e for e, _ in await timeline(own_pool, nid)]
        assert events.count("bounced") == events.count("undelivered") == 1
        assert events.count("confirmed") <= 1
        assert (await delivery(own_pool, nid))["status"] == "bounced"


async def _posted_while_held(batches: feedback.Batches, turns: asyncio.Semaphore, callbacks: list[list[Any]],
                             pool: asyncpg.Pool) -> list[Any]:
    """The callbacks posted while every turn is taken, and what each answers (or raises) once it is given back."""
    async with turns:
        answers = [asyncio.create_task(feedback.apply(pool, "src", events, batches=batches))
                   for events in callbacks]
        await asyncio.sleep(0.05)
        assert not any(answer.done() for answer in answers)  # all of them wait for the turn
    return await asyncio.gather(*answers, return_exceptions=True)


async def test_callbacks_of_arrivals_that_wait_together_share_one_statement(own_pool: asyncpg.Pool) -> None:
    """Six callbacks come while the only turn is taken: one statement then takes them all, and each callback still
    hears what it alone changed (a vendor's retry posted with the original is its duplicate, an unknown id its
    own)."""
    deliveries = [await sent(own_pool) for _ in range(5)]
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    callbacks = [[event(message_id, "delivered", event_id="w-" + nid, at=at)] for nid, _, message_id in deliveries]
    callbacks.insert(2, [event("<nobody@herald.test>", "delivered"), callbacks[0][0]])  # a retry, and an unknown id
    counting = CountingPool(own_pool)
    turns = asyncio.Semaphore(1)
    batches = feedback.Batches(cast(asyncpg.Pool, counting), turns, 1)

    answers = await _posted_while_held(batches, turns, callbacks, own_pool)
    applied = [(a.applied, a.duplicate, a.unknown) for a in answers]

    assert len(counting.statements) == 1
    assert applied == [(1, 0, 0), (1, 0, 0), (0, 1, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)]
    for nid, _, _ in deliveries:
        assert (await delivery(own_pool, nid))["confirmed_at"] == at
        assert [e for e, _ in await timeline(own_pool, nid)] == ["confirmed"]


async def test_a_batch_takes_at_most_its_share_of_waiting_arrivals(own_pool: asyncpg.Pool) -> None:
    deliveries = [await sent(own_pool) for _ in range(5)]
    counting = CountingPool(own_pool)
    turns = asyncio.Semaphore(1)
    batches = feedback.Batches(cast(asyncpg.Pool, counting), turns, 1, most=2)

    callbacks = [[event(message_id, "delivered", at=datetime.now(UTC))] for _, _, message_id in deliveries]
    answers = await _posted_while_held(batches, turns, callbacks, own_pool)

    assert [a.applied for a in answers] == [1] * 5
    assert len(counting.statements) == 3


async def test_every_waiting_arrival_is_taken_however_callbacks_interleave(own_pool: asyncpg.Pool) -> None:
    """Callbacks keep coming as statements end: none is left waiting when the last statement's runner stops."""
    deliveries = [await sent(own_pool) for _ in range(60)]
    batches = feedback.Batches(own_pool, asyncio.Semaphore(2), 2)

    async def callback(n: int, message_id: str) -> feedback.Applied:
        await asyncio.sleep(n % 7 * 0.001)
        return await feedback.apply(own_pool, "src", [event(message_id, "delivered", at=datetime.now(UTC))],
                                    batches=batches)

    for _ in range(3):
        answers = await asyncio.wait_for(asyncio.gather(*(callback(n, message_id) for n, (_, _, message_id)
                                                          in enumerate(deliveries))), 30)
        assert sum(a.applied + a.duplicate for a in answers) == len(deliveries)


async def test_callbacks_that_end_deliveries_and_wait_together_share_one_transaction(
        own_pool: asyncpg.Pool) -> None:
    """Bounces and complaints of four callbacks, and an arrival, come while the only turn is taken: the endings go
    in one transaction of two statements, the arrival in a statement of its own, each as if applied alone."""
    (b1, a1, m1), (b2, a2, m2), (c1, a3, m3), (d1, _, m4) = [await sent(own_pool) for _ in range(4)]
    bounce = event(m1, "bounced", event_id="b-" + b1)
    callbacks = [[bounce], [event(m2, "bounced")], [event(m3, "complained", reason="abuse")], [bounce],
                 [event(m4, "delivered", at=datetime.now(UTC))]]
    counting = CountingSessions(own_pool)
    turns = asyncio.Semaphore(1)
    batches = feedback.Batches(cast(asyncpg.Pool, counting), turns, 1)

    applied = [(a.applied, a.duplicate) for a in await _posted_while_held(batches, turns, callbacks, own_pool)]

    sent_statements = [" ".join(q.split())[:30] for q in counting.statements]
    assert len(sent_statements) == 5, sent_statements  # BEGIN, take, end_all, COMMIT; then the arrival's take
    assert sent_statements[0].startswith("BEGIN") and sent_statements[3].startswith("COMMIT"), sent_statements
    assert applied == [(1, 0), (1, 0), (1, 0), (0, 1), (1, 0)]
    for nid, status, address in ((b1, "bounced", a1), (b2, "bounced", a2), (c1, "complained", a3)):
        assert (await delivery(own_pool, nid))["status"] == status
        assert (await notifications.get(own_pool, nid)).status == "undelivered"  # type: ignore[union-attr]
        assert await suppressions.get(own_pool, "email", address) is not None
        assert [e for e, _ in await timeline(own_pool, nid)] == [status, "undelivered"]
    assert (await delivery(own_pool, d1))["confirmed_at"] is not None


async def test_a_callback_that_cannot_be_applied_fails_alone(own_pool: asyncpg.Pool,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose statement fails goes again one callback at a time: the callback that fails answers the
    error (its vendor posts it again), the others that waited with it are applied."""
    deliveries = [await sent(own_pool) for _ in range(3)]
    real_take = store_feedback.take

    async def take(conn: Any, events: list[store_feedback.Incoming]) -> list[store_feedback.Taken]:
        if any(e.event_id == "unappliable" for e in events):
            raise asyncpg.DataError("the statement failed")
        return await real_take(conn, events)
    monkeypatch.setattr(store_feedback, "take", take)
    turns = asyncio.Semaphore(1)
    batches = feedback.Batches(own_pool, turns, 1)
    callbacks = [[event(message_id, kind, event_id="unappliable" if n == 1 else None,
                        at=datetime.now(UTC) if kind == "delivered" else None)]
                 for kind in ("delivered", "bounced") for n, (_, _, message_id) in enumerate(deliveries)]

    outcomes = await _posted_while_held(batches, turns, callbacks, own_pool)

    assert [type(o).__name__ if isinstance(o, BaseException) else o.applied for o in outcomes] == \
        [1, "DataError", 1, 1, "DataError", 1]
    (first, _, _), (second, _, _), (third, _, _) = deliveries
    assert [(await delivery(own_pool, nid))["status"] for nid in (first, second, third)] == \
        ["bounced", "delivered", "bounced"]
