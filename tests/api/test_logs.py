"""API and worker logs: one JSON object per line, with the notification's context, and no personal data."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.conftest import Api, uid
from tests.conftest import free_port
from tests.processes import ApiProcess, WorkerProcess


async def test_json_lines_with_context_and_masked_addresses(api: Api) -> None:
    stack = api.stack
    env = {"DATABASE_URL": str(stack.settings.database_url), "TEMPORAL_ADDRESS": stack.temporal_address,
           "HERALD_ADMIN_KEY": stack.admin_key, "HERALD_TASK_QUEUE": uid("logs"),
           "HERALD_SMTP_HOST": "127.0.0.1", "HERALD_SMTP_PORT": str(stack.smtp.port),
           "HERALD_RETRY_INITIAL_S": "0.05", "HERALD_RETRY_MAX_S": "0.1", "HERALD_LOG_LEVEL": "info"}
    worker = WorkerProcess(env)
    api_proc = ApiProcess(env, free_port())
    template = await api.template()
    email = f"grace.{uid('h')}@example.com"
    user = await api.user(email=email)
    try:
        await api_proc.wait_ready()
        async with httpx.AsyncClient(base_url=api_proc.base, headers=api.h) as http:
            flaky = (await http.post("/v1/notifications", json={
                "template": template, "to": {"sim": "flaky:1"}, "channels": ["sim"], "data": {"name": "A"}})).json()
            mailed = (await http.post("/v1/notifications", json={
                "template": template, "user_id": user, "channels": ["email"], "data": {"name": "A"}})).json()
        await api.until_status(flaky["id"], "delivered")
        await api.until_status(mailed["id"], "delivered")
    finally:
        await worker.terminate()
        worker.kill()
        api_proc.stop()
    api_out = api_proc.output()
    lines = [*worker.output().splitlines(), *api_out.splitlines()]
    events: list[dict[str, Any]] = [json.loads(line) for line in lines if line.strip()]  # every line is JSON

    def find(**fields: Any) -> dict[str, Any]:
        matches = [e for e in events if all(e.get(k) == v for k, v in fields.items())]
        assert matches, f"no log line with {fields}:\n" + "\n".join(lines[-40:])
        return matches[0]

    accepted = find(message="accepted", notification_id=flaky["id"])
    assert accepted["workflow_id"] == flaky["workflow_id"] and accepted["logger"] == "herald.api"
    failed = find(notification_id=flaky["id"], outcome="failed")
    assert (failed["level"], failed["channel"], failed["attempt"]) == ("warning", "sim", 1)
    assert failed["workflow_id"] == flaky["workflow_id"] and failed["error"]
    assert find(notification_id=flaky["id"], outcome="delivered")["attempt"] == 2
    assert find(notification_id=mailed["id"], outcome="delivered")["channel"] == "email"
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in events)
    assert email not in "\n".join(lines)
