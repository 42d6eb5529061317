"""Throttle on the time-skipping server: at most N per user and category and period; the excess skipped or held."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from api.schemas import NotificationCreate
from core.models import NotificationState
from services.accept import Caller, accept
from store import templates, users
from tests.api.conftest import eventually
from tests.workflows.conftest import Harness
from workflows.notification import NotificationWorkflow

ADMIN = Caller(key="env", is_admin=True)


async def setup(harness: Harness) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    async with harness.pool.acquire() as conn:
        await templates.create(conn, f"tt-{suffix}", "Offer", "Offer {{ n }}", None)
    await users.create(harness.pool, f"tu-{suffix}", {"name": "Ada"})
    return f"tt-{suffix}", f"tu-{suffix}"


async def send(harness: Harness, template: str, user_id: str, n: int, throttle: dict[str, Any],
               category: str = "marketing") -> str:
    body = NotificationCreate.model_validate({
        "user_id": user_id, "channels": ["in_app"], "template": template, "data": {"n": n},
        "priority": "marketing", "category": category, "throttle": throttle})
    _, row = await accept(harness.pool, harness.settings, body, None, ADMIN)
    await harness.started_from_outbox(row.id)
    harness.started.append(harness.client.get_workflow_handle_for(NotificationWorkflow.run, row.workflow_id))
    return str(row.id)


async def final(harness: Harness, nid: str) -> NotificationState:
    handle = harness.client.get_workflow_handle_for(NotificationWorkflow.run, f"notification-{nid}")
    for _ in range(200):
        state = await handle.query(NotificationWorkflow.status)
        if state.status in ("delivered", "skipped"):
            return state
        await harness.env.sleep(timedelta(minutes=5))
    raise AssertionError(f"{nid} never ended; last {state.status}")


async def test_the_throttle_caps_at_n_and_skips_the_rest_with_the_reason(harness: Harness) -> None:
    template, user_id = await setup(harness)
    rule = {"limit": 3, "period": "1d"}
    ids = []
    for n in range(5):
        ids.append(await send(harness, template, user_id, n, rule))
        assert (await final(harness, ids[-1])).status in ("delivered", "skipped")
    statuses = [(await final(harness, i)).status for i in ids]
    assert statuses == ["delivered"] * 3 + ["skipped"] * 2
    row = await harness.row(ids[3])
    assert row["timeline"][-1]["event"] == "skipped"
    assert row["timeline"][-1]["detail"] == "throttled: 3 'marketing' notification(s) per 1d already sent"
    # Another category has a count of its own.
    other = await send(harness, template, user_id, 9, rule, category="news")
    assert (await final(harness, other)).status == "delivered"
    # A day later the period has slid past the first three: one more goes out.
    await harness.env.sleep(timedelta(days=1, minutes=1))
    assert (await final(harness, await send(harness, template, user_id, 10, rule))).status == "delivered"


async def checked(harness: Harness, nid: str) -> None:
    """Waits, without skipping time, until the notification's first throttle check has run: `final` skips time
    in steps, and a check that a loaded machine ran only after an hour was skipped would find the slots free."""
    async def decided() -> bool:
        row = await harness.row(nid)
        return row["status"] == "delivered" or "throttled" in [e["event"] for e in row["timeline"]]
    await eventually(decided, timeout_s=60, what=f"notification {nid}'s first throttle check")


async def test_delay_mode_holds_the_excess_until_a_slot_frees(harness: Harness) -> None:
    template, user_id = await setup(harness)
    rule = {"limit": 2, "period": "1h", "mode": "delay"}
    start = await harness.env.get_current_time()
    ids = [await send(harness, template, user_id, n, rule) for n in range(3)]
    for nid in ids:
        await checked(harness, nid)
    states = [await final(harness, i) for i in ids]
    assert [s.status for s in states] == ["delivered"] * 3
    # Workers start the three from the outbox concurrently, so which one comes third is theirs to decide:
    # exactly one is held, until the first send left the one-hour period; the other two go at once.
    rows = [await harness.row(i) for i in ids]
    held = [row for row in rows if "throttled" in [e["event"] for e in row["timeline"]]]
    assert len(held) == 1, [[e["event"] for e in row["timeline"]] for row in rows]
    assert held[0]["delivered_at"] >= start + timedelta(hours=1)
    assert all(row["delivered_at"] < start + timedelta(minutes=5) for row in rows if row is not held[0])


async def test_delay_mode_wakes_the_waiters_in_order_one_per_freed_slot(harness: Harness) -> None:
    template, user_id = await setup(harness)
    limit, waiters = 2, 20
    rule = {"limit": limit, "period": "1h", "mode": "delay"}
    ids: list[str] = []
    for n in range(waiters):
        ids.append(await send(harness, template, user_id, n, rule))
        await checked(harness, ids[-1])  # its first check ran: the order they came in is fixed
    for nid in ids:
        assert (await final(harness, nid)).status == "delivered"
    rows = [await harness.row(nid) for nid in ids]
    # Linear: each waiter was held once and checked once more when its slot came, never woken to lose a race.
    held = [[e["event"] for e in row["timeline"]].count("throttled") for row in rows]
    assert held == [0] * limit + [1] * (waiters - limit), held
    delivered = [row["delivered_at"] for row in rows]
    slot_rows = await harness.pool.fetch("SELECT notification_id, at FROM throttle_slot WHERE notification_id = "
                                         "ANY($1::text[])", ids)
    slots = [{r["notification_id"]: r["at"] for r in slot_rows}[nid] for nid in ids]
    # The waiters wake in the order they came: their slots are in that order. Their sends are not compared with
    # each other: two slots may lie a tenth of a second apart (as far as their first checks were), less than a
    # woken notification can take to render and send on a loaded machine.
    assert slots == sorted(slots), "the waiters were given slots in the order they came"
    # Never more than `limit` in any hour, each slot taken the moment the one `limit` places back leaves the
    # hour, and each sent once its slot came, not before and not a skipped step later.
    for first, later in zip(slots, slots[limit:], strict=False):
        assert later - first == timedelta(hours=1)
    assert all(slot <= sent < slot + timedelta(minutes=5) for sent, slot in zip(delivered, slots, strict=True))
