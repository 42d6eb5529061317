"""An API process killed the moment it stored a notification loses nothing: the start intent was stored with it,
and a worker starts it. The reconciler (a Temporal Schedule) takes the starts that keep failing, and the
notifications stored before the outbox existed by an API that died before starting them; never twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import ScheduleIntervalSpec
from temporalio.service import RPCError, RPCStatusCode

from activities.reconcile import ReconcileInput
from core.ids import client_key, notification_id_for_key
from core.workflow_ids import digest_workflow_id, notification_workflow_id, reconcile_schedule_id
from store import notifications, outbox
from store.notifications import NewNotification
from tests.api.conftest import Api, uid
from tests.conftest import free_port
from tests.processes import ApiProcess
from worker import ensure_reconcile_schedule
from workflows.reconcile import ReconcileWorkflow


async def crash_after_store(api: Api, body: dict[str, object], key: str) -> None:
    """Sends `body` to an API process that dies the moment the notification is stored (the reliability suite's
    launcher installs that crash; the API's own code knows nothing of it)."""
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": api.stack.settings.task_queue}
    doomed = ApiProcess(env, free_port(), launcher="chaos.crash_after_store")
    await doomed.wait_ready()
    try:
        async with httpx.AsyncClient(base_url=doomed.base, headers={**api.h, "Idempotency-Key": key}) as http:
            with pytest.raises(httpx.TransportError):
                await http.post("/v1/notifications", json=body)
    finally:
        doomed.stop()


async def workflow_exists(api: Api, workflow_id: str) -> bool:
    try:
        await api.stack.temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def reconcile(api: Api, limit: int = 1000) -> list[str]:
    result = await api.stack.temporal.execute_workflow(
        ReconcileWorkflow.run, ReconcileInput(older_than_s=0, limit=limit), id=f"reconcile-{uuid.uuid4().hex[:8]}",
        task_queue=api.stack.settings.task_queue)
    return result.started


async def test_a_crashed_api_loses_nothing_the_worker_starts_it(api: Api) -> None:
    template, user = await api.template(), await api.user()
    key = uid("crash")
    await crash_after_store(api, {"template": template, "user_id": user, "channels": ["in_app"],
                                  "data": {"name": "Ada"}}, key)
    row = await api.stack.pool.fetchrow("SELECT id, workflow_id FROM notification WHERE idempotency_key = $1",
                                        client_key("env", key))
    assert row is not None
    await api.until_status(row["id"], "delivered")
    assert row["id"] not in await reconcile(api)
    inbox = (await api.http.get(f"/v1/users/{user}/inbox", headers=api.h)).json()["items"]
    assert [i["notification_id"] for i in inbox] == [row["id"]]


async def test_a_client_retry_after_a_crash_makes_one_workflow(api: Api) -> None:
    template, user = await api.template(), await api.user()
    key = uid("crash")
    body: dict[str, object] = {"template": template, "user_id": user, "channels": ["in_app"], "data": {"name": "Ada"}}
    await crash_after_store(api, body, key)
    repeat = await api.send(template, expect=200, headers={"Idempotency-Key": key}, user_id=user,
                            channels=["in_app"])
    await api.until_status(repeat["id"], "delivered")
    assert repeat["id"] not in await reconcile(api)
    inbox = (await api.http.get(f"/v1/users/{user}/inbox", headers=api.h)).json()["items"]
    assert [i["notification_id"] for i in inbox] == [repeat["id"]]


async def test_the_reconciler_takes_over_a_start_that_keeps_failing(api: Api) -> None:
    template, user = await api.template(), await api.user()
    attempts = api.stack.settings.start_attempts
    row = await stored(api, template, user, timedelta(0), failed_starts=attempts)
    await asyncio.sleep(api.stack.settings.start_poll_s * 2)  # the workers' starters have looked, and left it
    assert not await workflow_exists(api, row["workflow_id"])
    assert [f.notification_id for f in await outbox.failing(api.stack.pool, attempts)].count(row["id"]) == 1

    await reconcile(api)

    await api.until_status(row["id"], "delivered")
    assert not await outbox.pending(api.stack.pool, row["id"])


async def test_workers_create_the_reconcile_schedule_once(api: Api) -> None:
    settings = api.stack.settings.model_copy(update={"task_queue": uid("sched"), "reconcile_every_s": 60})
    await ensure_reconcile_schedule(api.stack.temporal, settings)
    await ensure_reconcile_schedule(api.stack.temporal, settings)  # a second worker: no error, no second one
    handle = api.stack.temporal.get_schedule_handle(reconcile_schedule_id(settings.task_queue))
    described = await handle.describe()
    (interval,) = described.schedule.spec.intervals
    assert interval == ScheduleIntervalSpec(every=timedelta(seconds=60))
    await handle.delete()


async def test_the_reconciler_leaves_notifications_waiting_in_a_digest_alone(api: Api) -> None:
    """They have no workflow of their own (their digest holds them): starting one would send it twice."""
    template, user = await api.template(), await api.user()
    held = await api.send(template, user_id=user, channels=["in_app"], digest={"key": uid("k"), "window": "1h"})
    assert (await api.get(held["id"]))["status"] == "accepted"
    assert held["id"] not in await reconcile(api)
    assert not await workflow_exists(api, held["workflow_id"])


async def stored(api: Api, template: str, user: str, age: timedelta, *, digest: dict[str, str] | None = None,
                 failed_starts: int | None = None) -> dict[str, Any]:
    """A notification stored `age` ago as the API stores it. With `failed_starts`, its start waits in the outbox
    after failing that often; without, it has no start intent: stored before the outbox existed by an API that
    died before it started the workflow itself."""
    key = client_key("env", uid("lost"))
    nid = notification_id_for_key(key)
    new = NewNotification(
        id=nid, idempotency_key=key, request_hash="h", workflow_id=notification_workflow_id(nid), status="accepted",
        user_id=user, recipient={}, channels=["in_app"], priority="transactional", category=None,
        template=template, template_version=1, data={"name": "Ada"}, send_at=None, digest=digest,
        start_queue=api.stack.settings.task_queue if failed_starts is not None else None)
    async with api.stack.pool.acquire() as conn, conn.transaction():
        row, created = await notifications.insert(conn, new)
        assert created
        await conn.execute("UPDATE notification SET created_at = now() - $2::interval WHERE id = $1", nid, age)
        await conn.execute("UPDATE workflow_start SET attempts = $2, last_error = 'refused' "
                           "WHERE notification_id = $1", nid, failed_starts or 0)
    return {"id": row.id, "workflow_id": row.workflow_id, "status": row.status}


async def test_the_reconciler_starts_a_lost_notification_however_old(api: Api) -> None:
    template, user = await api.template(), await api.user()
    row = await stored(api, template, user, timedelta(days=3))
    assert not await workflow_exists(api, row["workflow_id"])
    assert row["id"] in await reconcile(api)
    await api.until_status(row["id"], "delivered")
    assert row["id"] not in await reconcile(api)


async def test_the_reconciler_adds_a_lost_digest_notification_to_its_digest(api: Api) -> None:
    template, user = await api.template(), await api.user()
    digest = {"key": uid("k"), "window": "1s"}
    row = await stored(api, template, user, timedelta(hours=2), digest=digest)
    assert not await workflow_exists(api, digest_workflow_id(user, digest["key"]))
    assert row["id"] in await reconcile(api)
    digested = await api.until_status(row["id"], "digested")
    assert not await workflow_exists(api, row["workflow_id"])  # never a workflow of its own
    assert row["id"] not in await reconcile(api)
    inbox = (await api.http.get(f"/v1/users/{user}/inbox", headers=api.h)).json()["items"]
    assert [i["notification_id"] for i in inbox] == [digested["digest_id"]]


async def test_notifications_waiting_legitimately_do_not_hide_a_lost_one(api: Api) -> None:
    """Scheduled notifications wait in their workflow's timer, as old as they like: a pass looks past them,
    however many there are, and looks at each of them once."""
    template, user = await api.template(), await api.user()
    later = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    waiting = [await api.send(template, user_id=user, channels=["in_app"], send_at=later) for _ in range(3)]
    await api.stack.pool.execute("UPDATE notification SET created_at = now() - interval '10 days' "
                                 "WHERE id = ANY($1::text[])", [w["id"] for w in waiting])
    lost = await stored(api, template, user, timedelta(days=9))
    assert lost["id"] in await reconcile(api, limit=2)
    assert await api.stack.pool.fetchval(
        "SELECT count(*) FROM notification WHERE id = ANY($1::text[]) AND start_checked_at IS NOT NULL",
        [w["id"] for w in waiting] + [lost["id"]]) == 4
    assert [(await api.get(w["id"]))["status"] for w in waiting] == ["scheduled"] * 3
