"""Bulk send: one result per item; valid items are accepted even when others are not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

import asyncpg
import pytest

from api import accepting
from api.routes import notifications as notification_routes
from tests.api.conftest import Api, eventually, uid
from tests.api.test_conventions import assert_error
from tests.statements import CountingPool


async def test_mixed_items_each_get_their_own_answer(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    key = uid("bulk")
    inbox = {"template": template, "user_id": user_id, "channels": ["in_app"], "idempotency_key": key}
    sim = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"]}
    items = [
        {**inbox, "data": {"name": "A"}},
        {"template": template, "channels": ["in_app"], "data": {"name": "B"}},  # no recipient
        {**sim, "template": "no-such-template"},  # unknown template
        {**sim, "data": {}},  # missing variable
        {**sim, "data": {"name": "C"}},
        {**inbox, "data": {"name": "Z"}},  # the first item's key with another body
    ]
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(6))
    assert [x["status"] for x in results[:5]] == ["accepted", "invalid", "invalid", "invalid", "accepted"]
    assert results[5]["status"] == "conflict"  # same key, different body
    assert results[1]["error"]["code"] == "validation_error"
    assert results[2]["error"]["code"] == "unknown_template"
    assert results[3]["error"]["code"] == "missing_variable"
    assert r.json()["counts"] == {"accepted": 2, "invalid": 3, "conflict": 1}
    for accepted in (results[0], results[4]):
        await api.until_status(accepted["notification"]["id"], "delivered")
    # Sending the same batch again accepts nothing new.
    again = (await api.http.post("/v1/notifications/bulk", json={"notifications": items[:1]}, headers=api.h)).json()
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["notification"]["id"] == results[0]["notification"]["id"]


async def test_a_batch_over_one_thousand_is_refused(api: Api) -> None:
    item = {"template": "t", "to": {"sim": "ok"}, "channels": ["sim"]}
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": [item] * 1001}, headers=api.h)
    assert "notifications" in str(assert_error(r, 422, "validation_error")["details"])


async def test_a_bulk_request_sends_as_few_statements_for_100_items_as_for_10(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The accept path's round trips do not grow with the batch: one read, one insert, one read of the keys used
    before, whatever the number of items (the API runs in this process; its pool is counted for the request)."""
    template, user_id = await api.template(), await api.user()
    counted: list[list[str]] = []
    real = accepting.accept_many

    async def counting(pool: asyncpg.Pool, *args: Any) -> Any:
        statements = CountingPool(pool)
        try:
            return await real(cast(asyncpg.Pool, statements), *args)
        finally:
            counted.append(statements.statements)

    monkeypatch.setattr(notification_routes, "accept_many", counting)
    for size in (10, 100):
        used = await api.send(template, user_id=user_id, channels=["in_app"], idempotency_key=uid("used"))
        items = [{"template": template, "user_id": user_id, "channels": ["in_app"], "data": {"name": f"N{i}"},
                  "idempotency_key": uid("each")} for i in range(size - 2)]
        items += [{"template": template, "user_id": user_id, "channels": ["in_app"], "data": {"name": "Ada"},
                   "idempotency_key": used["idempotency_key"]},  # a repeat of the single send
                  {"template": template, "user_id": uid("nobody"), "channels": ["in_app"], "data": {}}]
        r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
        assert r.json()["counts"] == {"accepted": size - 2, "duplicate": 1, "invalid": 1}, r.text
    small, large = counted[-2], counted[-1]
    assert len(small) == len(large) == 3, large
    assert [q for q in large if "INSERT" in q] == [large[1]] and "INSERT INTO workflow_start" in large[1]


async def test_a_bulk_request_wakes_the_workers_once(api: Api) -> None:
    template = await api.template()
    listener = await asyncpg.connect(api.stack.settings.database_url)
    woken: list[str] = []
    try:
        await listener.add_listener("herald_start", lambda *args: woken.append(args[3]))
        items = [{"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": f"N{i}"}}
                 for i in range(40)]
        r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
        assert r.json()["counts"] == {"accepted": 40}
        # The API announces after the commit, without waiting: the announcement comes soon after the answer.
        for _ in range(100):
            await listener.execute("SELECT 1")  # delivers what was committed before it
            if woken:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await listener.execute("SELECT 1")
        assert len(woken) == 1, woken
    finally:
        await listener.close()


async def test_one_bulk_answers_new_invalid_repeated_and_conflicting_items_each_for_itself(api: Api) -> None:
    template, user_id = await api.template(), await api.user()
    base = {"template": template, "user_id": user_id, "channels": ["in_app"], "data": {"name": "Ada"}}
    stored = await api.send(template, user_id=user_id, channels=["in_app"], idempotency_key=uid("stored"))
    in_batch, late = uid("batch"), uid("late")
    items = [
        {**base, "idempotency_key": in_batch},                           # new
        {**base, "idempotency_key": stored["idempotency_key"]},          # the stored one's repeat
        {**base, "idempotency_key": stored["idempotency_key"], "data": {"name": "Z"}},  # its key, another body
        {**base, "user_id": uid("nobody")},                              # unknown user
        {**base, "idempotency_key": in_batch},                           # the first item's repeat
        {**base, "idempotency_key": in_batch, "data": {"name": "Y"}},    # the first item's key, another body
        {**base, "idempotency_key": late, "template": uid("missing")},   # refused: its key is stored only later
        {**base, "idempotency_key": late},                               # so this one is new
        {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "B"}},  # new
    ]
    r = await api.http.post("/v1/notifications/bulk", json={"notifications": items}, headers=api.h)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "duplicate", "conflict", "invalid", "duplicate",
                                              "conflict", "invalid", "accepted", "accepted"]
    assert results[1]["notification"]["id"] == stored["id"]
    assert results[2]["error"]["details"] == {"notification_id": stored["id"]}
    assert results[3]["error"]["code"] == "unknown_user"
    assert results[4]["notification"]["id"] == results[0]["notification"]["id"]
    assert results[5]["error"]["code"] == "idempotency_conflict"
    assert results[6]["error"]["code"] == "unknown_template"
    assert r.json()["counts"] == {"accepted": 3, "duplicate": 2, "conflict": 2, "invalid": 2}
    new = [results[i]["notification"]["id"] for i in (0, 7, 8)]
    for nid in new:
        await api.until_status(nid, "delivered")
    for nid in [*new, stored["id"]]:
        assert await api.stack.pool.fetchval(
            "SELECT count(*) FROM notification_event WHERE notification_id = $1 AND event = 'started'", nid) == 1


async def test_identical_bulks_sent_at_once_create_and_start_each_notification_once(api: Api) -> None:
    template, user_id = await api.template(), await api.user()
    items: list[dict[str, Any]] = [
        {"template": template, "user_id": user_id, "channels": ["in_app"], "data": {"name": f"N{i}"},
         "idempotency_key": uid("race")} for i in range(30)]
    # The same items, two bulks in order and two reversed: keys shared in any order must not deadlock.
    bulks = [items, items, items[::-1], items[::-1]]
    answers = await asyncio.gather(*(api.http.post("/v1/notifications/bulk", json={"notifications": bulk},
                                                   headers=api.h) for bulk in bulks))
    by_key: dict[str, list[dict[str, Any]]] = {}
    for bulk, answer in zip(bulks, answers, strict=True):
        assert answer.status_code == 200, answer.text
        for item, result in zip(bulk, answer.json()["results"], strict=True):
            by_key.setdefault(item["idempotency_key"], []).append(result)
    for key, results in by_key.items():
        assert sorted(x["status"] for x in results) == ["accepted", "duplicate", "duplicate", "duplicate"], results
        assert len({x["notification"]["id"] for x in results}) == 1, key
    ids = [results[0]["notification"]["id"] for results in by_key.values()]
    workflow_ids = [results[0]["notification"]["workflow_id"] for results in by_key.values()]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM notification WHERE id = ANY($1)", ids) == 30
    for nid in ids:
        await api.until_status(nid, "delivered")
    assert await api.stack.pool.fetchval(
        "SELECT count(*) FROM notification_event WHERE notification_id = ANY($1) AND event = 'started'", ids) == 30
    assert await api.stack.pool.fetchval(
        "SELECT count(*) FROM inbox_item WHERE notification_id = ANY($1)", ids) == 30

    async def runs() -> int:
        query = " OR ".join(f"WorkflowId = '{workflow_id}'" for workflow_id in workflow_ids)
        return len([w async for w in api.stack.temporal.list_workflows(query)])
    assert await eventually(lambda: _equals(runs, 30), what="one run per notification") == 30


async def _equals(count: Callable[[], Awaitable[int]], expected: int) -> int:
    found = await count()
    assert found <= expected, f"{found} runs for {expected} notifications"
    return found if found == expected else 0
