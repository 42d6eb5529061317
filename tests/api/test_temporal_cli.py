"""The README's `temporal` CLI recipes, run for real against the test stack's dev server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from devstack.temporal_server import temporal_binary
from tests.api.conftest import Api


async def temporal(api: Api, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        temporal_binary(), *args, "--address", api.stack.temporal_address,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_list_by_search_attribute_query_status_and_signal_retry(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "flaky:3"}, channels=["sim"])
    await api.until_status(n["id"], "dead_lettered")
    wf = n["workflow_id"]

    async def listed() -> bool:
        out = await temporal(api, "workflow", "list", "--query", 'NotificationStatus="dead_lettered"', "-o", "json")
        return wf in out
    from tests.api.conftest import eventually
    await eventually(listed, what="the workflow in the search-attribute listing")

    status = json.loads(await temporal(api, "workflow", "query", "--type", "status", "-w", wf, "-o", "json"))
    result = status["queryResult"][0]
    assert (result["id"], result["status"], result["attempts"]) == (n["id"], "dead_lettered", 3)

    await temporal(api, "workflow", "signal", "--name", "retry", "-w", wf)
    done = await api.until_status(n["id"], "delivered")
    assert done["attempts"] == 4


async def test_cli_cancel_ends_the_notification_as_canceled(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    send_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    n = await api.send(template, user_id=user_id, channels=["in_app"], send_at=send_at)
    await temporal(api, "workflow", "cancel", "-w", n["workflow_id"])
    await api.until_status(n["id"], "canceled")


async def test_cli_discard_signal(api: Api) -> None:
    template = await api.template()
    n = await api.send(template, to={"sim": "reject"}, channels=["sim"])
    await api.until_status(n["id"], "dead_lettered")
    await temporal(api, "workflow", "signal", "--name", "discard", "-w", n["workflow_id"])
    await api.until_status(n["id"], "discarded")


async def test_batch_retry_by_query_and_list_by_recipient(api: Api) -> None:
    from tests.api.conftest import eventually

    template = await api.template()
    user_id = await api.user()
    ns = [await api.send(template, user_id=user_id, to={"sim": "flaky:3"}, channels=["sim"]) for _ in range(2)]
    for n in ns:
        await api.until_status(n["id"], "dead_lettered")

    async def listed() -> bool:
        out = await temporal(api, "workflow", "list", "--query", f'RecipientId="{user_id}"', "-o", "json")
        return all(n["workflow_id"] in out for n in ns)
    await eventually(listed, what="both workflows listed by recipient")
    await temporal(api, "workflow", "signal", "--name", "retry", "--yes", "--reason", "test",
                   "--query", f'RecipientId="{user_id}" AND NotificationStatus="dead_lettered"')
    for n in ns:
        await api.until_status(n["id"], "delivered")


async def test_cancel_by_signal(api: Api) -> None:
    template = await api.template()
    user_id = await api.user()
    send_at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    n = await api.send(template, user_id=user_id, channels=["in_app"], send_at=send_at)
    await temporal(api, "workflow", "signal", "--name", "cancel", "-w", n["workflow_id"])
    await api.until_status(n["id"], "canceled")


async def test_reset_reruns_a_delivered_workflow_without_sending_twice(api: Api) -> None:
    """A reset replays a notification from its first workflow task (an operator's fix-and-rerun); the delivery
    receipt keeps the second run from sending again."""
    template = await api.template()
    user_id = await api.user()
    hook = f"/hook/reset-{uuid.uuid4().hex[:8]}"
    n = await api.send(template, user_id=user_id, channels=["in_app", "webhook"],
                       to={"webhook": api.stack.http_receiver.base + hook})
    await api.until_status(n["id"], "delivered")
    first = await api.stack.temporal.get_workflow_handle(n["workflow_id"]).describe()
    before = len(api.stack.http_receiver.for_key(hook))

    await temporal(api, "workflow", "reset", "-w", n["workflow_id"], "--type", "FirstWorkflowTask",
                   "--reason", "ops: rerun after a fix", "--yes")
    handle = api.stack.temporal.get_workflow_handle(n["workflow_id"])
    assert (await handle.describe()).run_id != first.run_id
    await handle.result()
    assert len(api.stack.http_receiver.for_key(hook)) == before == 1
    inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", headers=api.h)).json()["items"]
    assert [item["notification_id"] for item in inbox] == [n["id"]]
    assert (await api.get(n["id"]))["status"] == "delivered"


async def test_describe_pollers_and_backlog(api: Api) -> None:
    out = json.loads(await temporal(api, "task-queue", "describe", "--task-queue", api.stack.settings.task_queue,
                                    "-o", "json"))
    assert out["pollers"], out  # the test worker polls the main queue
    # A queue nobody polls collects a backlog: what an operator sees when workers are down.
    queue = f"unpolled-{uuid.uuid4().hex[:8]}"
    await temporal(api, "workflow", "start", "--type", "NotificationWorkflow", "--task-queue", queue,
                   "-w", f"backlog-{queue}")

    async def backlog() -> int:
        stats = json.loads(await temporal(api, "task-queue", "describe", "--task-queue", queue, "-o", "json"))
        assert not stats["pollers"]
        return sum(int(s.get("approximateBacklogCount", 0)) for s in stats["stats"] or [])
    from tests.api.conftest import eventually
    assert await eventually(backlog, what="the unpolled queue's backlog") == 1
    await temporal(api, "workflow", "terminate", "-w", f"backlog-{queue}", "--reason", "test done")


async def test_schedule_recipes(api: Api) -> None:
    """Operating a recurring broadcast from the CLI: list, describe, pause and resume with a note, fire now,
    list its fires, and backfill over times that already fired, which sends nothing twice."""
    from tests.api.conftest import eventually, uid
    from tests.api.test_schedules import settled

    template = await api.template()
    user_id = await api.user()
    sid = uid("sch")
    r = await api.http.post("/v1/schedules", headers=api.h, json={
        "id": sid, "interval": "1s", "template": template, "data": {"name": "Ada"}, "channels": ["in_app"],
        "audience": {"user_ids": [user_id]}})
    assert r.status_code == 201, r.text
    tid = f"herald-schedule-{sid}"

    async def broadcasts() -> list[str]:
        rows = await api.stack.pool.fetch(
            "SELECT id FROM broadcast WHERE schedule_id = $1 AND status = 'sent' ORDER BY id", sid)
        return [row["id"] for row in rows]

    async def state() -> dict[str, object]:
        shown: dict[str, object] = (await api.http.get(f"/v1/schedules/{sid}", headers=api.h)).json()
        return shown
    try:
        await eventually(lambda: _listed(api, tid), what="the schedule in `temporal schedule list`")
        await eventually(broadcasts, what="a first fire")
        await temporal(api, "schedule", "toggle", "--schedule-id", tid, "--pause", "--reason", "ops: hold")
        assert (await state())["note"] == "ops: hold" and (await state())["paused"] is True
        described = json.loads(await temporal(api, "schedule", "describe", "--schedule-id", tid, "-o", "json"))
        assert described["schedule"]["state"]["paused"] is True
        await settled(api, sid)  # a fire that started before the pause finishes
        before = await broadcasts()
        assert before, "the schedule fired at least once before the pause"

        # Temporal names a fire's workflow by its time to the second, and a fire is idempotent by that id: a fire
        # now in the same second as the last scheduled fire is that fire again and sends nothing. Next second.
        await asyncio.sleep(1.1)
        # AllowAll, as the API's trigger: a fire now is not skipped because the scheduler still counts one running.
        await temporal(api, "schedule", "trigger", "--schedule-id", tid, "--overlap-policy", "AllowAll")
        await eventually(lambda: _more(broadcasts, len(before)), timeout_s=60, what="the triggered fire")
        fires = await temporal(api, "workflow", "list", "--query", f'TemporalScheduledById="{tid}"', "-o", "json")
        assert f'"scheduled-{sid}-' in fires

        # Backfill over times that already fired: Temporal runs those fires again, and nobody gets a second
        # message. (A backfill over time the schedule spent paused fires what it missed, as it should.)
        sent = await broadcasts()
        runs = [run for run in (await state())["recent_runs"] if isinstance(run, dict)]  # type: ignore[attr-defined]
        first = min(runs, key=lambda run: str(run["scheduled_at"]))
        at = datetime.fromisoformat(first["scheduled_at"])
        await temporal(api, "schedule", "backfill", "--schedule-id", tid, "--overlap-policy", "AllowAll",
                       "--start-time", (at - timedelta(milliseconds=500)).isoformat(),
                       "--end-time", (at + timedelta(milliseconds=500)).isoformat())

        async def reran() -> bool:
            query = f'WorkflowId="{first["workflow_id"]}"'
            return len([w async for w in api.stack.temporal.list_workflows(query)]) >= 2
        await eventually(reran, what="the backfilled fires")
        await asyncio.sleep(2)
        assert await broadcasts() == sent
        inbox = (await api.http.get(f"/v1/users/{user_id}/inbox", params={"limit": 200}, headers=api.h)).json()
        assert len(inbox["items"]) == len(sent)

        await temporal(api, "schedule", "toggle", "--schedule-id", tid, "--unpause", "--reason", "ops: go")
        assert (await state())["state"] == "active"
    finally:
        assert (await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)).status_code == 204
    assert tid not in await temporal(api, "schedule", "list")


async def _listed(api: Api, schedule_id: str) -> bool:
    return schedule_id in await temporal(api, "schedule", "list")


async def _more(count: Callable[[], Awaitable[list[str]]], n: int) -> bool:
    return len(await count()) > n
