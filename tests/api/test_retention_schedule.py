"""Retention runs itself: a worker creates its hourly Temporal Schedule at start, and the workflow the schedule
starts deletes what has aged out, through the real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import ScheduleActionStartWorkflow, ScheduleIntervalSpec
from temporalio.service import RPCError

from activities.retention import RetentionInput
from core.workflow_ids import notification_workflow_id, reconcile_schedule_id, retention_schedule_id
from tests.api.conftest import Api, eventually, uid
from tests.processes import worker_process
from workflows.retention import RetentionWorkflow


async def test_a_worker_creates_the_retention_schedule_at_start(api: Api) -> None:
    queue = uid("retain")
    env = {"DATABASE_URL": str(api.stack.settings.database_url), "TEMPORAL_ADDRESS": api.stack.temporal_address,
           "HERALD_TASK_QUEUE": queue, "HERALD_WEBHOOK_SECRET": str(api.stack.settings.webhook_secret)}
    handle = api.stack.temporal.get_schedule_handle(retention_schedule_id(queue))

    async def described() -> object:
        try:
            return await handle.describe()
        except RPCError:
            return None

    async with worker_process(env) as worker:
        schedule = await eventually(described, timeout_s=60, what="the retention schedule")
        await worker.terminate()
    (interval,) = schedule.schedule.spec.intervals
    assert interval == ScheduleIntervalSpec(every=timedelta(hours=1))
    action = schedule.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "RetentionWorkflow"
    assert action.task_queue == queue
    await handle.delete()
    await api.stack.temporal.get_schedule_handle(reconcile_schedule_id(queue)).delete()


async def test_the_retention_workflow_deletes_aged_out_notifications(api: Api) -> None:
    old = datetime.now(UTC) - timedelta(days=31)
    template, user = await api.template(), await api.user()
    sent = await api.send(template, user_id=user, channels=["sim"], to={"sim": "ok"})
    await api.until_status(sent["id"], "delivered")
    young = await api.send(template, user_id=user, channels=["sim"], to={"sim": "ok"})
    await api.until_status(young["id"], "delivered")
    await api.stack.temporal.get_workflow_handle(notification_workflow_id(sent["id"])).result()  # its last write
    # Webhook subscriptions that other tests left on the shared stack may still be relaying its status events,
    # which keeps a notification (tests/store/test_retention.py): here only its age decides.
    await api.stack.pool.execute("DELETE FROM status_event WHERE notification_id = $1", sent["id"])
    await api.stack.pool.execute("UPDATE notification SET updated_at = $2, created_at = $2 WHERE id = $1",
                                 sent["id"], old)

    result = await api.stack.temporal.execute_workflow(
        RetentionWorkflow.run, RetentionInput(), id=uid("retention"), task_queue=api.stack.settings.task_queue)

    assert result.notifications >= 1
    assert (await api.http.get(f"/v1/notifications/{sent['id']}", headers=api.h)).status_code == 404
    assert (await api.get(young["id"]))["status"] == "delivered"
