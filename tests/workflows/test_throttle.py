"""Throttle on the time-skipping server: at most N per user and category and period; the excess skipped or held."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from api.accept import accept
from api.deps import Principal
from api.schemas import NotificationCreate
from core.models import NotificationState
from store import templates, users
from tests.workflows.conftest import Harness
from workflows.notification import NotificationWorkflow

ADMIN = Principal(scopes=frozenset({"admin"}), key_id="env")


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
    _, row = await accept(harness.pool, harness.client, harness.settings, body, None, ADMIN)
    harness.started.append(harness.client.get_workflow_handle_for(NotificationWorkflow.run, row["workflow_id"]))
    return str(row["id"])


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


async def test_delay_mode_holds_the_excess_until_a_slot_frees(harness: Harness) -> None:
    template, user_id = await setup(harness)
    rule = {"limit": 2, "period": "1h", "mode": "delay"}
    start = await harness.env.get_current_time()
    ids = [await send(harness, template, user_id, n, rule) for n in range(3)]
    states = [await final(harness, i) for i in ids]
    assert [s.status for s in states] == ["delivered"] * 3
    held = await harness.row(ids[2])
    events = [e["event"] for e in held["timeline"]]
    assert "throttled" in events, events
    # Held until the first send left the one-hour period.
    assert held["delivered_at"] >= start + timedelta(hours=1)
    assert (await harness.row(ids[0]))["delivered_at"] < start + timedelta(minutes=5)
