"""When Temporal does not answer: the API still starts, /ready stays ready and names Temporal's state, a send or a
broadcast is accepted into the outbox (a worker that reaches Temporal starts it), and what needs a running
workflow is 503."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import Api, eventually, uid
from tests.api.test_conventions import assert_error
from tests.conftest import Stack, free_port


@pytest.fixture
async def api_without_temporal(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    settings = stack.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}", "api_port": port})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error"))
    serve = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=stack.auth(), timeout=30) as http:
        yield http
    server.should_exit = True
    await serve


async def test_ready_names_temporal_when_it_is_down_and_stays_ready(api_without_temporal: httpx.AsyncClient,
                                                                     api: Api) -> None:
    r = await api_without_temporal.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"postgres": "ok", "temporal": "unavailable"}}
    healthy = await api.http.get("/ready")
    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ready", "checks": {"postgres": "ok", "temporal": "ok"}}


async def test_a_send_while_temporal_is_down_is_accepted_and_started_by_a_worker(
        api_without_temporal: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    body = {"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "Ada"}}
    r = await api_without_temporal.post("/v1/notifications", json=body, headers={"Idempotency-Key": uid("outage")})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "accepted"
    bulk = await api_without_temporal.post("/v1/notifications/bulk", json={"notifications": [body, body]})
    assert bulk.status_code == 200 and [i["status"] for i in bulk.json()["results"]] == ["accepted", "accepted"]
    # The API never reached Temporal; the worker, which does, starts all three, each once.
    for nid in [r.json()["id"]] + [i["notification"]["id"] for i in bulk.json()["results"]]:
        done = await api.until_status(nid, "delivered")
        assert [e["event"] for e in done["timeline"]].count("started") == 1
        assert await api.stack.pool.fetchval("SELECT count(*) FROM delivery_attempt WHERE notification_id = $1",
                                             nid) == 1


async def test_changes_that_need_the_workflow_are_503_while_temporal_is_down(
        api_without_temporal: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    n = await api.send(template, to={"sim": "ok"}, channels=["sim"], send_at=later)
    await eventually(lambda: _started(api, n["id"]), what="the workflow to start")
    base = f"/v1/notifications/{n['id']}"
    for method, path, body in [("POST", f"{base}/cancel", None), ("POST", f"{base}/reschedule", {"send_at": later}),
                               ("POST", f"{base}/send-now", None), ("PATCH", base, {"data": {"name": "Bo"}})]:
        r = await api_without_temporal.request(method, path, json=body)
        assert_error(r, 503, "temporal_unavailable")
    assert (await api.get(n["id"]))["status"] == "scheduled"
    r = await api.http.post(f"{base}/cancel", headers=api.h)
    assert r.status_code == 202, r.text


async def _started(api: Api, notification_id: str) -> bool:
    return "started" in [e["event"] for e in (await api.get(notification_id))["timeline"]]


def test_settings_refuse_a_placeholder_admin_key() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        Settings(HERALD_ADMIN_KEY="changeme")
    assert Settings(HERALD_ADMIN_KEY=f"hk_{uuid.uuid4().hex}").admin_key


async def test_a_broadcast_while_temporal_is_down_is_accepted_and_run_by_a_worker(
        api_without_temporal: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    users = [await api.user() for _ in range(3)]
    r = await api_without_temporal.post("/v1/broadcasts", json={
        "template": template, "data": {"name": "x"}, "channels": ["in_app"], "audience": {"user_ids": users}},
        headers={"Idempotency-Key": uid("outage-b")})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "accepted"

    # The API never reached Temporal; the worker, which does, starts the broadcast and then its recipients.
    async def sent() -> dict[str, Any] | None:
        b = (await api.http.get(f"/v1/broadcasts/{r.json()['id']}", headers=api.h)).json()
        return b if b["status"] == "sent" and b["counts"] == {"delivered": len(users)} else None
    done = await eventually(sent, timeout_s=60, what="the broadcast accepted during the outage to be delivered")
    assert done["recipients"] == len(users)
    items = await api.stack.pool.fetchval(
        """SELECT count(*) FROM inbox_item i JOIN notification n ON n.id = i.notification_id
           WHERE n.broadcast_id = $1""", r.json()["id"])
    assert items == len(users)
