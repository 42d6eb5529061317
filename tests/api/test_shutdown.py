"""SIGTERM to a worker under load: deliveries in flight finish, none fails with a worker-shutdown error."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import httpx
import pytest

from tests.api.conftest import Api, eventually, uid
from tests.conftest import free_port
from tests.processes import ROOT, api_process


@pytest.mark.parametrize("local", ["true", "false"], ids=["local-delivery", "queued-delivery"])
async def test_a_terminated_worker_finishes_what_it_started(api: Api, local: str) -> None:
    queue = uid("drain")
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_ADMIN_KEY": api.stack.admin_key, "HERALD_TASK_QUEUE": queue, "HERALD_GRACEFUL_SHUTDOWN_S": "15",
           "HERALD_LOCAL_DELIVERIES": local}
    worker = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "worker.py"), cwd=ROOT,
                                                  env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE)
    template = await api.template()
    async with api_process(env, free_port()) as base, httpx.AsyncClient(base_url=base, headers=api.h) as http:
        sent = []
        for _ in range(5):
            r = await http.post("/v1/notifications", json={"template": template, "to": {"sim": "slow:3000"},
                                                           "channels": ["sim"], "data": {"name": "Ada"}})
            assert r.status_code == 202, r.text
            sent.append(r.json())

        async def all_sending() -> bool:
            statuses = [(await api.get(n["id"]))["status"] for n in sent]
            return all(status == "processing" for status in statuses)
        await eventually(all_sending, what="every delivery in flight")
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), 30)
        log = err.decode()
        assert worker.returncode == 0, log[-3000:]
        assert "worker draining" in log
        for n in sent:
            done = await api.get(n["id"])
            assert (done["status"], done["attempts"]) == ("delivered", 1), done
        # No activity failed or was cancelled by the shutdown: nothing above INFO was logged.
        levels = [json.loads(line)["level"] for line in log.splitlines() if line.startswith("{")]
        assert levels and set(levels) == {"info"}, log[-3000:]
