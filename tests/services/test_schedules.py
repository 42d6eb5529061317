"""The schedule service called directly, without HTTP, on the real PostgreSQL and the real Temporal dev server
(the time-skipping server has no Schedules)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from core.errors import Problem
from core.settings import Settings
from core.workflow_ids import temporal_schedule_id
from services import schedules
from store import templates
from tests.conftest import SECRET


def _settings() -> Settings:
    # A task queue no worker polls: nothing a fire would start ever runs.
    return Settings(HERALD_TASK_QUEUE=f"svc-sch-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=SECRET)


async def _template(pool: asyncpg.Pool) -> str:
    name = f"svc-sch-{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        await templates.create(conn, name, None, "Hello {{ user.name }}, {{ news }}", None)
    return name


def _sent(template: str, **changes: Any) -> dict[str, Any]:
    """A validated request body as the API dumps it (ScheduleCreate, as JSON)."""
    return {"id": f"sch-{uuid.uuid4().hex[:10]}", "cron": "0 9 1 1 *", "interval": None, "timezone": None,
            "template": template, "template_version": None, "data": {"news": "yearly"}, "channels": ["in_app"],
            "priority": "marketing", "category": None,
            "audience": {"user_ids": ["u-1"], "topic": None, "all": None}, "paused": True, "note": None, **changes}


async def _exists_in_temporal(client: Client, schedule_id: str) -> bool:
    try:
        await client.get_schedule_handle(temporal_schedule_id(schedule_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_a_repeat_makes_one_schedule_and_its_actions_answer_the_live_state(
        dev_env: WorkflowEnvironment, pool: asyncpg.Pool) -> None:
    settings, template = _settings(), await _template(pool)
    sent = _sent(template)
    sid = sent["id"]
    made, created = await schedules.create(pool, dev_env.client, settings, sent)
    # Asking paused differently is still the same definition.
    again, created_again = await schedules.create(pool, dev_env.client, settings, {**sent, "paused": False})
    try:
        assert (created, created_again) == (True, False)
        assert (made.id, made.state, made.paused, made.cron, made.audience) == \
            (sid, "paused", True, "0 9 1 1 *", {"user_ids": ["u-1"]})
        assert again.state == "paused" and made.last_fire is None and made.recent_runs == []
        assert await pool.fetchval("SELECT count(*) FROM schedule WHERE id = $1", sid) == 1
        described = await dev_env.client.get_schedule_handle(temporal_schedule_id(sid)).describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "ScheduledBroadcastWorkflow"

        with pytest.raises(Problem) as exists:
            await schedules.create(pool, dev_env.client, settings, {**sent, "cron": "0 10 1 1 *"})
        assert (exists.value.status, exists.value.code) == (409, "schedule_exists")

        resumed = await schedules.resume(pool, dev_env.client, sid, "back")
        assert (resumed.state, resumed.paused, resumed.note) == ("active", False, "back")
        assert resumed.next_fire is not None and resumed.next_fire.month == 1 and resumed.next_fire.hour == 9
        listed = await schedules.list_page(pool, dev_env.client, None, 10_000)
        assert sid in [s.id for s in listed]
    finally:
        await schedules.delete(pool, dev_env.client, sid)
    assert not await _exists_in_temporal(dev_env.client, sid)
    with pytest.raises(Problem) as gone:
        await schedules.get(pool, dev_env.client, sid)
    assert (gone.value.status, gone.value.code) == (404, "not_found")
    with pytest.raises(Problem) as deleted:
        await schedules.create(pool, dev_env.client, settings, sent)
    assert (deleted.value.status, deleted.value.code) == (409, "schedule_deleted")


async def test_refusals_are_problems_and_leave_nothing_behind(dev_env: WorkflowEnvironment,
                                                             pool: asyncpg.Pool) -> None:
    settings, template = _settings(), await _template(pool)
    refusals: list[tuple[dict[str, Any], str, str]] = [
        (_sent(template, interval="1h"), "validation_error", "cron"),
        (_sent(template, cron=None, interval="1h", timezone="Europe/Paris"), "validation_error", "timezone"),
        (_sent(template, cron="61 * * * *"), "invalid_schedule", "cron"),
        (_sent(template, data={}), "missing_variable", "data.news"),
        (_sent("no-such-template"), "unknown_template", "template"),
    ]
    for sent, code, field in refusals:
        with pytest.raises(Problem) as refused:
            await schedules.create(pool, dev_env.client, settings, sent)
        assert (refused.value.status, refused.value.code, refused.value.details[0]["field"]) == (422, code, field)
        assert await pool.fetchval("SELECT count(*) FROM schedule WHERE id = $1", sent["id"]) == 0
        assert not await _exists_in_temporal(dev_env.client, sent["id"])
