"""Digests on the time-skipping server, through the API's accept path: signal-with-start, windows, absorption."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.schemas import NotificationCreate
from core.workflow_ids import digest_workflow_id
from services.accept import Caller, accept
from store import inbox, templates, users
from tests.workflows.conftest import Harness

BODY = "{{ count }} new: {% for e in events %}{{ e.what }};{% endfor %}"

ADMIN = Caller(key="env", is_admin=True)


async def digest_user(harness: Harness) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    async with harness.pool.acquire() as conn:
        await templates.create(conn, f"dt-{suffix}", "{{ count }} updates", BODY, None)
    await users.create(harness.pool, f"du-{suffix}", {"name": "Ada"})
    return f"dt-{suffix}", f"du-{suffix}"


async def send(harness: Harness, template: str, user_id: str, what: str, key: str = "comments",
               window: str = "15m") -> str:
    body = NotificationCreate.model_validate({
        "user_id": user_id, "channels": ["in_app"], "template": template, "data": {"what": what},
        "digest": {"key": key, "window": window}})
    status, n = await accept(harness.pool, harness.client, harness.settings, body, None, ADMIN)
    assert status == 202 and n.status == "accepted"
    return str(n.id)


async def bodies(harness: Harness, user_id: str) -> list[str]:
    items = await inbox.list_items(harness.pool, user_id, unread_only=False, after=None, limit=50)
    return sorted(i.body for i in items)


async def until_digested(harness: Harness, ids: list[str], max_steps: int = 60) -> list[dict[str, Any]]:
    """Advances skipped time until every notification of `ids` is digested and its digest delivered."""
    for _ in range(max_steps):
        rows = [await harness.row(i) for i in ids]
        if all(r["status"] == "digested" for r in rows):
            digests = {r["digest_id"] for r in rows}
            if all([(await harness.row(d))["status"] == "delivered" for d in digests]):
                return rows
        await harness.env.sleep(timedelta(seconds=30))
    raise AssertionError(f"not all digested: {[r['status'] for r in rows]}")


async def record(harness: Harness, name: str, workflow_id: str) -> None:
    """HERALD_RECORD_HISTORIES=<dir>: keeps the digest's history for the replay test, as the harness does."""
    record_dir = os.environ.get("HERALD_RECORD_HISTORIES")
    if record_dir:
        history = await harness.client.get_workflow_handle(workflow_id).fetch_history()
        (Path(record_dir) / f"digest-{name}.json").write_text(history.to_json())


async def test_ten_events_in_a_window_are_one_message_listing_all_ten(harness: Harness) -> None:
    template, user_id = await digest_user(harness)
    started = await harness.env.get_current_time()
    ids = []
    for i in range(10):
        ids.append(await send(harness, template, user_id, f"c{i}"))
        await harness.env.sleep(timedelta(seconds=60))  # all ten inside the 15-minute window
    handle = harness.client.get_workflow_handle(digest_workflow_id(user_id, "comments"))
    assert await handle.query("pending") == ids
    rows = await until_digested(harness, ids)
    digest_ids = {r["digest_id"] for r in rows}
    assert len(digest_ids) == 1
    digest = await harness.row(digest_ids.pop())
    assert digest["data"]["count"] == 10 and [e["what"] for e in digest["data"]["events"]] == [
        f"c{i}" for i in range(10)]
    assert await bodies(harness, user_id) == ["10 new: " + "".join(f"c{i};" for i in range(10))]
    assert all(r["timeline"][-1]["event"] == "digested" for r in rows)
    assert all(d["status"] == "digested" for r in rows for d in r["deliveries"])
    # The window is measured from the first event: the digest went out 15 minutes after it.
    assert started + timedelta(minutes=15) <= digest["delivered_at"] < started + timedelta(minutes=16)
    await handle.result()  # nothing pending after the delivery: the digest workflow ends
    await record(harness, "ten-in-a-window", handle.id)


async def test_events_after_the_window_start_the_next_digest(harness: Harness) -> None:
    template, user_id = await digest_user(harness)
    first = [await send(harness, template, user_id, "a", window="10s"), await send(harness, template, user_id, "b",
                                                                                  window="10s")]
    await until_digested(harness, first)
    later = [await send(harness, template, user_id, "c", window="10s")]
    rows = await until_digested(harness, later)
    assert rows[0]["digest_id"] not in {(await harness.row(i))["digest_id"] for i in first}
    assert await bodies(harness, user_id) == ["1 new: c;", "2 new: a;b;"]


async def test_events_racing_the_end_of_the_window_land_in_exactly_one_digest(harness: Harness) -> None:
    template, user_id = await digest_user(harness)
    ids: list[str] = []

    async def keep_sending() -> None:
        for i in range(40):
            ids.append(await send(harness, template, user_id, f"e{i}", window="1s"))
            if i % 3 == 0:
                await harness.env.sleep(timedelta(milliseconds=400))

    await keep_sending()
    rows = await until_digested(harness, ids)
    digest_ids = sorted({r["digest_id"] for r in rows})
    assert len(digest_ids) > 1, "the sends should have spanned several windows"
    listed: list[str] = []
    for d in digest_ids:
        listed += [e["what"] for e in (await harness.row(d))["data"]["events"]]
    # Every event in exactly one digest: none lost, none twice.
    assert sorted(listed) == sorted(f"e{i}" for i in range(40)) and len(listed) == 40


async def test_a_repeated_accept_is_counted_once(harness: Harness) -> None:
    template, user_id = await digest_user(harness)
    body = NotificationCreate.model_validate({
        "user_id": user_id, "channels": ["in_app"], "template": template, "data": {"what": "x"},
        "digest": {"key": "k", "window": "5m"}})
    _, n = await accept(harness.pool, harness.client, harness.settings, body, "same-key-" + user_id, ADMIN)
    status, again = await accept(harness.pool, harness.client, harness.settings, body, "same-key-" + user_id, ADMIN)
    assert status == 200 and again.id == n.id
    await until_digested(harness, [n.id])
    assert await bodies(harness, user_id) == ["1 new: x;"]
