"""Broadcasts on the real stack: every recipient notified exactly once, small history, restart-safe."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.models import BroadcastInput
from core.settings import Settings
from store import broadcasts, templates
from tests.api.conftest import Api, eventually, uid
from tests.api.test_conventions import assert_error
from tests.conftest import SECRET
from worker import herald_worker
from workflows.broadcast import BroadcastWorkflow


async def users_on_topic(pool: asyncpg.Pool, topic: str, count: int, **fields: Any) -> list[str]:
    """Inserts `count` users with COPY, the way a large audience is loaded."""
    ids = [f"{topic}-{i:06d}" for i in range(count)]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("app_user", columns=["id", "name", "topics"],
                                         records=[(i, f"User {i}", [topic]) for i in ids])
    return ids


async def test_a_topic_broadcast_reaches_everyone_exactly_once(api: Api) -> None:
    template = await api.template(body="Hello {{ user.name }}, {{ news }}", subject=None)
    topic = uid("t")
    ids = await users_on_topic(api.stack.pool, topic, 230)
    outsider = await api.user()
    body = {"template": template, "data": {"news": "we shipped"}, "channels": ["in_app"],
            "audience": {"topic": topic}, "idempotency_key": uid("b")}
    r = await api.http.post("/v1/broadcasts", json=body, headers=api.h)
    assert r.status_code == 202, r.text
    broadcast = r.json()

    async def finished() -> dict[str, Any] | None:
        b = (await api.http.get(f"/v1/broadcasts/{broadcast['id']}", headers=api.h)).json()
        return b if b["status"] == "sent" and b["counts"].get("delivered") == len(ids) else None
    done = await eventually(finished, timeout_s=120, what="the broadcast to be delivered")
    assert done["recipients"] == len(ids) and done["counts"] == {"delivered": len(ids)}

    per_user = await api.stack.pool.fetch(
        """SELECT n.user_id, count(i.*) AS items FROM notification n
           LEFT JOIN inbox_item i ON i.notification_id = n.id WHERE n.broadcast_id = $1 GROUP BY n.user_id""",
        broadcast["id"])
    assert {r["user_id"] for r in per_user} == set(ids) and all(r["items"] == 1 for r in per_user)
    assert outsider not in {r["user_id"] for r in per_user}
    item = (await api.http.get(f"/v1/users/{ids[7]}/inbox", headers=api.h)).json()["items"][0]
    assert item["body"] == f"Hello User {ids[7]}, we shipped"

    # Pages of 50, four per run: the workflow continued as new and every run's history stayed small.
    runs = [w async for w in api.stack.temporal.list_workflows(f'WorkflowId = "{broadcast["workflow_id"]}"')]
    assert len(runs) >= 2
    for run in runs:
        events = [e async for e in api.stack.temporal.get_workflow_handle(
            broadcast["workflow_id"], run_id=run.run_id).fetch_history_events()]
        assert len(events) < 2000, len(events)

    again = await api.http.post("/v1/broadcasts", json=body, headers=api.h)
    assert again.status_code == 200 and again.json()["id"] == broadcast["id"]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM notification WHERE broadcast_id = $1",
                                         broadcast["id"]) == len(ids)


async def test_broadcast_validation_and_cancel(api: Api) -> None:
    template = await api.template()
    for audience in [{}, {"topic": "a", "all": True}, {"user_ids": []}]:
        r = await api.http.post("/v1/broadcasts", headers=api.h, json={
            "template": template, "data": {"name": "x"}, "channels": ["in_app"], "audience": audience})
        assert_error(r, 422, "validation_error")
    r = await api.http.post("/v1/broadcasts", headers=api.h, json={
        "template": template, "data": {}, "channels": ["in_app"], "audience": {"all": True}})
    assert_error(r, 422, "missing_variable")
    assert_error(await api.http.get("/v1/broadcasts/nope", headers=api.h), 404, "not_found")

    # Users who gave no address for a channel are skipped, not dead-lettered.
    topic = uid("t")
    await users_on_topic(api.stack.pool, topic, 3)
    r = await api.http.post("/v1/broadcasts", headers=api.h, json={
        "template": template, "data": {"name": "x"}, "channels": ["sms"], "audience": {"topic": topic}})
    bid = r.json()["id"]

    async def all_skipped() -> bool:
        # The recipients' statuses can all be in before the broadcast itself records that it is done.
        b = (await api.http.get(f"/v1/broadcasts/{bid}", headers=api.h)).json()
        return bool(b["counts"] == {"skipped": 3} and b["status"] == "sent")
    await eventually(all_skipped, what="every recipient without a phone skipped, and the broadcast done")
    assert_error(await api.http.post(f"/v1/broadcasts/{bid}/cancel", headers=api.h), 409, "already_final")


async def test_a_broadcast_whose_worker_stops_halfway_sends_nobody_twice(dev_env: WorkflowEnvironment,
                                                                          pool: asyncpg.Pool) -> None:
    settings = Settings(HERALD_TASK_QUEUE=f"bc-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET)
    topic = f"half-{uuid.uuid4().hex[:6]}"
    ids = await users_on_topic(pool, topic, 200)
    template = f"bc-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await templates.create(conn, template, None, "Hi {{ user.name }}", None)
    bid = uuid.uuid4().hex
    await broadcasts.insert(pool, broadcasts.NewBroadcast(
        id=bid, idempotency_key=bid, request_hash="h", workflow_id=f"broadcast-{bid}", template=template,
        template_version=1, data={}, channels=["in_app"], priority="marketing", category=None,
        audience={"topic": topic}))
    target = dev_env.client.service_client.config.target_host
    handle = await dev_env.client.start_workflow(
        BroadcastWorkflow.run, BroadcastInput(broadcast_id=bid, template=template, template_version=1, data={},
                                              channels=["in_app"], priority="marketing", category=None,
                                              page_size=20, pages_per_run=3),
        id=f"broadcast-{bid}", task_queue=settings.task_queue)

    async def count(sql: str) -> int:
        value: int = await pool.fetchval(sql, bid)
        return value
    async with herald_worker(await Client.connect(target), pool, settings):
        await eventually(lambda: count("SELECT count(*) FROM notification WHERE broadcast_id = $1"), what="a start")

        async def halfway() -> bool:
            return await count("SELECT count(*) FROM notification WHERE broadcast_id = $1") >= 60
        await eventually(halfway, what="the broadcast to be under way")
    # The first worker is gone mid-broadcast; a new one (a new process, as after a crash) takes over.
    stopped_at = await count("SELECT count(*) FROM notification WHERE broadcast_id = $1")
    async with herald_worker(await Client.connect(target), pool, settings):
        assert await handle.result() == len(ids)

        async def all_delivered() -> bool:
            return await count("SELECT count(*) FROM notification WHERE broadcast_id = $1 AND status = 'delivered'"
                               ) == len(ids)
        await eventually(all_delivered, timeout_s=120, what="every recipient delivered")
    assert stopped_at < len(ids)
    rows = await pool.fetch("""SELECT n.user_id, count(i.*) AS items FROM notification n
                               LEFT JOIN inbox_item i ON i.notification_id = n.id
                               WHERE n.broadcast_id = $1 GROUP BY n.user_id""", bid)
    assert len(rows) == len(ids) and all(r["items"] == 1 for r in rows)
