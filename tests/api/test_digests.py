"""Digests over HTTP on the dev server, and a digest whose worker dies mid-window."""

from __future__ import annotations

import uuid

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.schemas import NotificationCreate
from core.secrets import new_webhook_secret
from core.settings import Settings
from core.workflow_ids import digest_workflow_id
from services.accept import Caller, accept
from store import digests, inbox, notifications, templates, users
from tests.api.conftest import Api, eventually
from worker import herald_worker

BODY = "{{ count }} new: {% for e in events %}{{ e.what }};{% endfor %}"

ADMIN = Caller(key="env", is_admin=True)


async def digested(pool: asyncpg.Pool, ids: list[str]) -> list[notifications.NotificationRecord] | None:
    rows = [r for r in [await notifications.get(pool, i) for i in ids] if r is not None]
    return rows if len(rows) == len(ids) and all(r.status == "digested" for r in rows) else None


async def test_digest_notifications_over_http(api: Api) -> None:
    template = await api.template(body=BODY, subject="Updates")
    user_id = await api.user()
    sent = [await api.send(template, user_id=user_id, channels=["in_app"], data={"what": w},
                           digest={"key": "orders", "window": "2s"}) for w in ("a", "b", "c")]
    assert all(n["status"] == "accepted" and n["digest"] == {"key": "orders", "window": "2s"} for n in sent)
    done = [await api.until_status(n["id"], "digested") for n in sent]
    digest_ids = {n["digest_id"] for n in done}
    assert len(digest_ids) == 1
    digest = await api.until_status(digest_ids.pop(), "delivered")
    assert digest["digest"] is None and digest["user_id"] == user_id
    assert done[0]["timeline"][-1] == {**done[0]["timeline"][-1], "event": "digested",
                                       "detail": f"delivered in digest {digest['id']}"}
    items = await inbox.list_items(api.stack.pool, user_id, unread_only=False, after=None, limit=10)
    assert [i.body for i in items] == ["3 new: a;b;c;"]
    listed = (await api.http.get(f"/v1/notifications?status=digested&user_id={user_id}", headers=api.h)).json()
    assert sorted(n["id"] for n in listed["items"]) == sorted(n["id"] for n in sent)
    # Final: a digested notification cannot be canceled or changed.
    r = await api.http.post(f"/v1/notifications/{sent[0]['id']}/cancel", headers=api.h)
    assert r.status_code == 409


async def test_digest_requests_that_cannot_work_are_refused(api: Api) -> None:
    template = await api.template(body=BODY, subject="Updates")
    user_id = await api.user()
    for body, field in [({"to": {"sim": "ok"}, "channels": ["sim"], "digest": {"key": "k", "window": "1m"}}, "body"),
                        ({"user_id": user_id, "channels": ["in_app"], "digest": {"key": "k", "window": "0s"}},
                         "digest.window"),
                        ({"user_id": user_id, "channels": ["in_app"], "digest": {"key": "k", "window": "8d"}},
                         "digest.window"),
                        ({"user_id": user_id, "channels": ["in_app"], "digest": {"key": "", "window": "1m"}},
                         "digest.key"),
                        ({"user_id": user_id, "channels": ["in_app"], "digest": {"key": "k", "window": "1m"},
                          "send_at": "2027-06-01T00:00:00Z"}, "body")]:
        r = await api.http.post("/v1/notifications", json={"template": template, "data": {"what": "x"}, **body},
                                headers=api.h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["field"] == field, r.text
    # The template must render as a digest: `events` and `count` are there, other variables must be in data.
    strict = await api.template(body="{{ count }} {{ missing }}", subject="Updates")
    r = await api.http.post("/v1/notifications", json={"template": strict, "user_id": user_id, "channels": ["in_app"],
                                                       "digest": {"key": "k", "window": "1m"}}, headers=api.h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_variable", r.text


async def test_a_worker_killed_mid_window_loses_nothing(dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    # A worker stopped while its claim was under way leaves the claimed rows to the next worker after the lease:
    # short here, well within the wait for every event below.
    settings = Settings(HERALD_TASK_QUEUE=f"dg-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret(),
                        HERALD_START_LEASE_S=5)
    suffix = uuid.uuid4().hex[:8]
    template, user_id = f"dg-{suffix}", f"dgu-{suffix}"
    async with pool.acquire() as conn:
        await templates.create(conn, template, None, BODY, None)
    await users.create(pool, user_id, {"name": "Ada"})
    target = dev_env.client.service_client.config.target_host
    client = await Client.connect(target)

    async def send(what: str) -> str:
        body = NotificationCreate.model_validate({
            "user_id": user_id, "channels": ["in_app"], "template": template, "data": {"what": what},
            "digest": {"key": "k", "window": "4s"}})
        _, n = await accept(pool, settings, body, None, ADMIN)
        return str(n.id)

    ids: list[str] = []
    async with herald_worker(await Client.connect(target), pool, settings):
        ids += [await send(f"w{i}") for i in range(5)]
        handle = client.get_workflow_handle(digest_workflow_id(user_id, "k"))

        async def pending() -> object:
            try:
                return await handle.query("pending")
            except RPCError as exc:  # the first event's workflow has not started the digest yet
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return None
                raise
        await eventually(pending, what="the window to hold events")
    # The worker is gone mid-window; events keep arriving; a new worker (as after a crash) takes over.
    ids += [await send(f"w{i}") for i in range(5, 10)]
    async with herald_worker(await Client.connect(target), pool, settings):
        rows = await eventually(lambda: digested(pool, ids), timeout_s=30, what="every event digested")
        digest_ids = {r.digest_id for r in rows}
        assert len(digest_ids) == 1

        async def delivered() -> bool:
            row = await notifications.get(pool, next(iter(digest_ids)))
            return row is not None and row.status == "delivered"
        await eventually(delivered, what="the digest delivered")
    items = await inbox.list_items(pool, user_id, unread_only=False, after=None, limit=10)
    assert [i.body for i in items] == ["10 new: " + "".join(f"w{i};" for i in range(10))]


async def test_a_notification_waiting_in_a_digest_cannot_be_changed_on_its_own(api: Api) -> None:
    template = await api.template(body=BODY, subject="Updates")
    n = await api.send(template, user_id=await api.user(), channels=["in_app"], data={"what": "x"},
                       digest={"key": "k", "window": "1h"})
    r = await api.http.patch(f"/v1/notifications/{n['id']}", json={"data": {"what": "y"}}, headers=api.h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "in_digest", r.text


async def test_a_notification_waiting_in_a_digest_can_be_canceled_until_its_window_closes(api: Api) -> None:
    template = await api.template(body=BODY, subject="Updates")
    user_id = await api.user()
    sent = [await api.send(template, user_id=user_id, channels=["in_app"], data={"what": w},
                           digest={"key": "cancel", "window": "3s"}) for w in ("a", "b", "c")]

    async def started() -> bool | None:
        # Waiting in its digest means its workflow runs: on a busy machine the worker may start it after a cancel
        # sent at once, and the start is then the timeline's last event.
        timeline = (await api.get(sent[1]["id"]))["timeline"]
        return any((e["detail"] or "").startswith("workflow started by") for e in timeline) or None

    await eventually(started, what="the workflow started")
    r = await api.http.post(f"/v1/notifications/{sent[1]['id']}/cancel", headers=api.h)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "canceled"
    assert [d["status"] for d in r.json()["deliveries"]] == ["canceled"]
    kept = [await api.until_status(n["id"], "digested") for n in (sent[0], sent[2])]
    await api.until_status(kept[0]["digest_id"], "delivered")
    items = await inbox.list_items(api.stack.pool, user_id, unread_only=False, after=None, limit=10)
    assert [i.body for i in items] == ["2 new: a;c;"]
    canceled = await api.get(sent[1]["id"])
    assert canceled["status"] == "canceled" and canceled["digest_id"] is None
    assert canceled["timeline"][-1]["detail"] == "canceled while waiting in its digest"
    # Once absorbed, too late: the digest went out with it.
    r = await api.http.post(f"/v1/notifications/{sent[0]['id']}/cancel", headers=api.h)
    assert r.status_code == 409, r.text
    # The same when the close commits between the API's read and the cancel (the race the row lock settles).
    async with api.stack.pool.acquire() as conn:
        assert await digests.cancel_waiting(conn, sent[0]["id"]) is False
    assert (await api.get(sent[0]["id"]))["status"] == "digested"
