"""Temporal stopped and started again under a running stack: accepting goes on (202, /ready 200), a broadcast too,
nothing starts while it is away, and when it returns the backlog starts by itself, highest priority first, each
notification delivered once. A dev server of its own, file-backed so it keeps its state across the restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.temporal import SEARCH_ATTRIBUTES
from devstack.temporal_server import MATCHING_CONFIG, temporal_binary
from services.outbox import START_TIMEOUT_S
from store import outbox
from tests.api.conftest import eventually
from tests.conftest import Stack, free_port
from worker import herald_worker


async def _temporal(port: int, db: Path) -> WorkflowEnvironment:
    keys = [SearchAttributeKey.for_keyword(n) if k == 2 else SearchAttributeKey.for_keyword_list(n)
            for n, k in SEARCH_ATTRIBUTES.items()]
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), search_attributes=keys, port=port,
        dev_server_database_filename=str(db),
        dev_server_extra_args=[arg for setting, value in MATCHING_CONFIG.items()
                               for arg in ("--dynamic-config-value", f"{setting}={value}")])


class _Api:
    def __init__(self, http: httpx.AsyncClient):
        self.http = http

    async def send(self, template: str, priority: str) -> dict[str, Any]:
        r = await self.http.post("/v1/notifications", json={
            "template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "Ada"},
            "priority": priority})
        assert r.status_code == 202, r.text
        body: dict[str, Any] = r.json()
        return body

    async def status(self, notification_id: str) -> dict[str, Any]:
        r = await self.http.get(f"/v1/notifications/{notification_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@asynccontextmanager
async def _serve(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    serve = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    yield
    server.should_exit = True
    await serve


async def test_accepting_goes_on_while_temporal_is_down_and_the_backlog_starts_by_priority(
        stack: Stack, tmp_path: Path) -> None:
    temporal_port, api_port = free_port(), free_port()
    db = tmp_path / "temporal.db"
    first = await _temporal(temporal_port, db)
    # Three workflow slots: the backlog is claimed a few rows at a time, so the order of the claims shows.
    settings = stack.settings.model_copy(update={
        "temporal_address": f"127.0.0.1:{temporal_port}", "task_queue": f"outage-{uuid.uuid4().hex[:8]}",
        "api_port": api_port, "workflow_slots": 3})
    template = f"outage-{uuid.uuid4().hex[:8]}"
    second: WorkflowEnvironment | None = None
    try:
        async with herald_worker(first.client, stack.pool, settings), _serve(create_app(settings), api_port), \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", headers=stack.auth(), timeout=30) as http:
            api = _Api(http)
            r = await http.post("/v1/templates", json={"name": template, "body": "Hello {{ name }}"})
            assert r.status_code == 201, r.text
            users = []
            for _ in range(3):
                users.append(f"outage-u-{uuid.uuid4().hex[:8]}")
                assert (await http.post("/v1/users", json={"id": users[-1], "name": "Ada"})).status_code == 201
            before = await api.send(template, "transactional")
            await eventually(lambda: _is(api, before["id"], "delivered"), what="a send before the outage")

            await first.shutdown()
            ready = await http.get("/ready")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"postgres": "ok", "temporal": "unavailable"}
            marketing = [await api.send(template, "marketing") for _ in range(12)]
            otps = [await api.send(template, "otp") for _ in range(2)]
            broadcast = await http.post("/v1/broadcasts", json={
                "template": template, "data": {"name": "all"}, "channels": ["in_app"],
                "audience": {"user_ids": users}})
            assert broadcast.status_code == 202, broadcast.text
            # The starter has tried, given up on the starts it sent before the OTPs came (START_TIMEOUT_S), and
            # keeps every row for later.
            await asyncio.sleep(START_TIMEOUT_S + 1)
            assert {(await api.status(n["id"]))["status"] for n in marketing + otps} == {"accepted"}
            assert await outbox.waiting(stack.pool, settings.task_queue) == len(marketing + otps) + 1

            second = await _temporal(temporal_port, db)
            for n in marketing + otps:
                await eventually(lambda n=n: _is(api, n["id"], "delivered"), timeout_s=60,  # type: ignore[misc]
                                 what=f"{n['priority']} {n['id']} delivered after the outage")

            async def broadcast_sent() -> bool:
                b = (await http.get(f"/v1/broadcasts/{broadcast.json()['id']}")).json()
                return bool(b["status"] == "sent" and b["counts"] == {"delivered": len(users)})
            await eventually(broadcast_sent, timeout_s=60, what="the broadcast delivered after the outage")

        started = {r["notification_id"]: r["at"] for r in await stack.pool.fetch(
            "SELECT notification_id, at FROM notification_event WHERE event = 'started' "
            "AND notification_id = ANY($1::text[])", [n["id"] for n in marketing + otps])}
        assert len(started) == len(marketing + otps)
        assert max(started[n["id"]] for n in otps) < min(started[n["id"]] for n in marketing)
        attempts = await stack.pool.fetchval(
            "SELECT count(*) FROM delivery_attempt WHERE notification_id = ANY($1::text[])",
            [n["id"] for n in marketing + otps])
        assert attempts == len(marketing + otps)  # each delivered once
    finally:
        if second is not None:
            await second.shutdown()


async def _is(api: _Api, notification_id: str, status: str) -> bool:
    return bool((await api.status(notification_id))["status"] == status)
