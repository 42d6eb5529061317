"""SIGTERM to a worker under load: deliveries in flight finish, none fails with a worker-shutdown error."""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import pytest

from store import notifications
from tests.api.conftest import Api, eventually, uid
from tests.conftest import free_port
from tests.processes import ApiProcess, api_process, worker_process
from tests.receivers import Reply


@pytest.mark.parametrize("local", ["true", "false"], ids=["local-delivery", "queued-delivery"])
async def test_a_terminated_worker_finishes_what_it_started(api: Api, local: str) -> None:
    queue = uid("drain")
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": queue, "HERALD_GRACEFUL_SHUTDOWN_S": "15",
           "HERALD_LOCAL_DELIVERIES": local, "HERALD_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
           "HERALD_WEBHOOK_SECRET": str(api.stack.settings.webhook_secret)}
    template = await api.template()
    receiver = api.stack.http_receiver
    hooks = [f"/hook/drain-{uid('h')}" for _ in range(5)]
    for hook in hooks:  # each send takes 3 s at the receiver: long enough to be caught in flight
        receiver.script[hook].append(Reply(delay_s=3))
    async with worker_process(env) as worker, api_process(env, free_port()) as base, \
            httpx.AsyncClient(base_url=base, headers=api.h) as http:
        sent = []
        for hook in hooks:
            r = await http.post("/v1/notifications", json={
                "template": template, "to": {"webhook": receiver.base + hook}, "channels": ["webhook"],
                "data": {"name": "Ada"}})
            assert r.status_code == 202, r.text
            sent.append(r.json())

        async def all_in_flight() -> bool:
            return all(receiver.for_key(hook) for hook in hooks)
        await eventually(all_in_flight, what="every send to have reached the receiver")
        code = await worker.terminate()
        log = worker.output()
        assert code == 0, log[-3000:]
        assert "worker draining" in log
        # Every send finished and was logged as delivered before the exit. (A queued delivery's final record is
        # the workflow's next task, which may come after the exit: the next worker writes it, sending nothing.)
        for n in sent:
            log_rows = await notifications.attempt_log(api.stack.pool, n["id"])
            assert [(a.attempt, a.outcome) for a in log_rows] == [(1, "delivered")], log_rows
        async with worker_process(env):
            for n in sent:
                done = await api.until_status(n["id"], "delivered")
                assert done["attempts"] == 1, done
        assert all(len(receiver.for_key(hook)) == 1 for hook in hooks)  # each sent once
        # No activity failed or was cancelled by the shutdown: nothing above INFO was logged from the drain on
        # (what a start on a busy machine may warn of is not the shutdown's).
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        drain = next(i for i, line in enumerate(lines) if "worker draining" in line["message"])
        levels = [line["level"] for line in lines[drain:]]
        assert levels and set(levels) == {"info"}, log[-3000:]


async def test_a_terminated_api_finishes_the_requests_it_holds(api: Api) -> None:
    """SIGTERM while a large bulk request runs: it completes (every item accepted), then the process exits."""
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": uid("unserved"),
           "HERALD_GRACEFUL_SHUTDOWN_S": "30"}
    template = await api.template()
    items = [{"template": template, "to": {"sim": "ok"}, "channels": ["sim"], "data": {"name": "A"}}
             for _ in range(400)]
    server = ApiProcess(env, free_port())
    await server.wait_ready()
    async with httpx.AsyncClient(base_url=server.base, headers=api.h, timeout=60) as http:
        request = asyncio.create_task(http.post("/v1/notifications/bulk", json={"notifications": items}))
        await asyncio.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        r = await request
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"accepted": len(items)}, r.json()["counts"]
    # uvicorn re-raises the signal once it has shut down cleanly, so the exit status names SIGTERM.
    assert await asyncio.to_thread(server.process.wait, 30) in (0, -signal.SIGTERM)
    async with httpx.AsyncClient(base_url=server.base) as http:
        try:
            await http.get("/health")
            raise AssertionError("the API still answers after SIGTERM")
        except httpx.TransportError:
            pass
