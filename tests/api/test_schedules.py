"""Recurring broadcasts on the dev server (the time-skipping server has no Schedules): fires on time, delivers,
pauses, resumes, fires on demand, is deleted, and never sends one fire time twice."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.models import ScheduledBroadcastInput
from services.schedules import fire_broadcast_id, temporal_schedule
from store.schedules import NewSchedule
from tests.api.conftest import Api, eventually, uid
from tests.api.test_conventions import assert_error
from tests.api.test_outages import api_without_temporal as api_without_temporal  # the fixture
from tests.api.test_temporal_cli import temporal
from workflows.scheduled import ScheduledBroadcastWorkflow


async def fired(api: Api, schedule_id: str) -> list[dict[str, Any]]:
    """The broadcasts the schedule's fires stored, oldest first."""
    rows = await api.stack.pool.fetch(
        "SELECT id, status, recipients, created_at FROM broadcast WHERE schedule_id = $1 ORDER BY created_at",
        schedule_id)
    return [dict(r) for r in rows]


async def inbox_bodies(api: Api, user_id: str) -> list[str]:
    r = await api.http.get(f"/v1/users/{user_id}/inbox", params={"limit": 200}, headers=api.h)
    assert r.status_code == 200, r.text
    return [item["body"] for item in r.json()["items"]]


async def create(api: Api, expect: int = 201, **body: Any) -> dict[str, Any]:
    r = await api.http.post("/v1/schedules", json=body, headers=api.h)
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()
    return result


async def get(api: Api, schedule_id: str) -> dict[str, Any]:
    r = await api.http.get(f"/v1/schedules/{schedule_id}", headers=api.h)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_an_interval_schedule_fires_on_time_delivers_and_pauses_resumes_triggers_and_deletes(api: Api) -> None:
    template = await api.template(body="Weekly news for {{ user.name }}: {{ news }}", subject=None)
    ada, bo = await api.user(), await api.user()
    sid = uid("sch")
    s = await create(api, id=sid, interval="2s", template=template, data={"news": "all good"}, channels=["in_app"],
                     audience={"user_ids": [ada, bo]}, category="digest")
    assert (s["id"], s["state"], s["paused"], s["interval"], s["cron"]) == (sid, "active", False, "2s", None)
    assert s["temporal_schedule_id"] == f"herald-schedule-{sid}"
    nexts = [datetime.fromisoformat(t) for t in s["next_run_times"]]
    assert len(nexts) >= 2 and all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(nexts))
    listed = (await api.http.get("/v1/schedules", params={"limit": 500}, headers=api.h)).json()["items"]
    assert sid in [x["id"] for x in listed]

    # It fires every 2 s, each fire one broadcast that reaches both users once.
    sent = await eventually(lambda: _at_least(api, sid, 2, "sent"), timeout_s=30, what="two fires sent")
    for b in sent[:2]:
        counts = await api.stack.pool.fetch(
            "SELECT user_id, status FROM notification WHERE broadcast_id = $1 ORDER BY user_id", b["id"])
        assert sorted(r["user_id"] for r in counts) == sorted([ada, bo]) and b["recipients"] == 2
    await eventually(lambda: _inbox_count(api, ada, 2), what="two fires in Ada's inbox")
    assert set(await inbox_bodies(api, ada)) == {"Weekly news for Ada: all good"}

    # On time: each run started before the next was due (within the 2 s interval), the scheduled times 2 s apart.
    shown = await get(api, sid)
    runs = shown["recent_runs"]
    assert len(runs) >= 2 and shown["fires"] >= 2
    for run in runs:
        late = datetime.fromisoformat(run["started_at"]) - datetime.fromisoformat(run["scheduled_at"])
        assert timedelta(0) <= late < timedelta(seconds=2), run
        assert run["workflow_id"].startswith(f"scheduled-{sid}-")
    times = sorted(datetime.fromisoformat(r["scheduled_at"]) for r in runs)
    assert all((b - a) % timedelta(seconds=2) == timedelta(0) for a, b in itertools.pairwise(times))
    assert {r["broadcast_id"] for r in runs if r["broadcast_status"]} <= {b["id"] for b in await fired(api, sid)}

    # Paused: no fire for three intervals.
    r = await api.http.post(f"/v1/schedules/{sid}/pause", json={"note": "holiday"}, headers=api.h)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["paused"], r.json()["note"]) == ("paused", True, "holiday")
    await settled(api, sid)  # a fire started just before the pause may still store its broadcast
    before = len(await fired(api, sid))
    await asyncio.sleep(6)
    assert len(await fired(api, sid)) == before

    # Triggered while paused: one fire at once, and it stays paused.
    r = await api.http.post(f"/v1/schedules/{sid}/trigger", headers=api.h)
    assert r.status_code == 202, r.text
    await eventually(lambda: _at_least(api, sid, before + 1), timeout_s=5, what="the triggered fire")
    await settled(api, sid)
    await asyncio.sleep(4.5)
    assert len(await fired(api, sid)) == before + 1
    assert (await get(api, sid))["state"] == "paused"

    # Resumed: fires again.
    r = await api.http.post(f"/v1/schedules/{sid}/resume", headers=api.h)
    assert r.status_code == 200 and r.json()["state"] == "active", r.text
    await eventually(lambda: _at_least(api, sid, before + 3), timeout_s=10, what="fires after the resume")

    # Deleted: gone from the API and from Temporal, and no fire after it.
    assert f"herald-schedule-{sid}" in await temporal(api, "schedule", "list")
    assert (await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)).status_code == 204
    await asyncio.sleep(1)

    async def none_running() -> bool:  # a fire started just before the delete ends (visibility lags a little)
        query = f'TemporalScheduledById="herald-schedule-{sid}" AND ExecutionStatus="Running"'
        return not [w async for w in api.stack.temporal.list_workflows(query)]
    await eventually(none_running, what="the last fires to end")
    after_delete = len(await fired(api, sid))
    assert_error(await api.http.get(f"/v1/schedules/{sid}", headers=api.h), 404, "not_found")
    listed = (await api.http.get("/v1/schedules", params={"limit": 500}, headers=api.h)).json()["items"]
    assert sid not in [x["id"] for x in listed]
    assert f"herald-schedule-{sid}" not in await temporal(api, "schedule", "list")
    await asyncio.sleep(4)
    assert len(await fired(api, sid)) == after_delete
    assert (await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)).status_code == 204  # again: no-op
    # Every fire reached each user once: as many inbox items as broadcasts.
    final = await fired(api, sid)
    await eventually(lambda: _inbox_count(api, bo, len(final)), what="Bo's inbox, one item per fire")
    assert len(await inbox_bodies(api, bo)) == len(final)


async def settled(api: Api, schedule_id: str) -> None:
    """Waits until no fire of the schedule is running (Temporal's count of the schedule's running actions)."""
    handle = api.stack.temporal.get_schedule_handle(f"herald-schedule-{schedule_id}")

    async def idle() -> bool:
        return not (await handle.describe()).info.running_actions
    await eventually(idle, what="the schedule's running fires to end")


async def _at_least(api: Api, schedule_id: str, n: int, status: str | None = None) -> list[dict[str, Any]] | None:
    rows = [b for b in await fired(api, schedule_id) if status is None or b["status"] == status]
    return rows if len(rows) >= n else None


async def _inbox_count(api: Api, user_id: str, n: int) -> bool:
    return len(await inbox_bodies(api, user_id)) >= n


async def test_one_fire_time_never_makes_two_broadcasts(api: Api) -> None:
    template = await api.template(body="Hi {{ user.name }}", subject=None)
    ada, bo = await api.user(), await api.user()
    sid = uid("sch")
    await create(api, id=sid, cron="0 9 1 1 *", template=template, channels=["in_app"],
                 audience={"user_ids": [ada, bo]}, paused=True)
    try:
        # A fire re-run after it finished (a reset, a backfill over the same time): the same workflow id.
        r = await api.http.post(f"/v1/schedules/{sid}/trigger", headers=api.h)
        assert r.status_code == 202, r.text
        first = await eventually(lambda: _at_least(api, sid, 1, "sent"), what="the triggered fire")
        run = (await eventually(lambda: _runs(api, sid), what="the fire in recent_runs"))[0]
        assert run["broadcast_id"] == first[0]["id"] == fire_broadcast_id(run["workflow_id"])
        # The fire ends once its broadcast has: then the same fire runs again.
        handle = api.stack.temporal.get_workflow_handle_for(ScheduledBroadcastWorkflow.run, run["workflow_id"])
        done = await handle.result()
        assert done.broadcast_id == first[0]["id"]
        again = await api.stack.temporal.execute_workflow(
            ScheduledBroadcastWorkflow.run, ScheduledBroadcastInput(sid), id=run["workflow_id"],
            task_queue=api.stack.settings.task_queue)
        assert again.broadcast_id == first[0]["id"]

        # Two runs of one fire at once: Temporal refuses the second start; the first sends.
        fire_id = f"scheduled-{sid}-2030-01-01T09:00:00Z"
        results = await asyncio.gather(*(api.stack.temporal.execute_workflow(
            ScheduledBroadcastWorkflow.run, ScheduledBroadcastInput(sid), id=fire_id,
            task_queue=api.stack.settings.task_queue) for _ in range(2)), return_exceptions=True)
        ok = [x for x in results if not isinstance(x, BaseException)]
        assert [x.broadcast_id for x in ok] == [fire_broadcast_id(fire_id)], results
        assert [type(x) for x in results if isinstance(x, BaseException)] == [WorkflowAlreadyStartedError]
        await eventually(lambda: _at_least(api, sid, 2, "sent"), what="the second fire sent")
        assert len(await fired(api, sid)) == 2
        rows = await api.stack.pool.fetch(
            """SELECT n.user_id, count(*) AS n FROM notification n JOIN broadcast b ON b.id = n.broadcast_id
               WHERE b.schedule_id = $1 GROUP BY n.user_id""", sid)
        assert {(r["user_id"], r["n"]) for r in rows} == {(ada, 2), (bo, 2)}
        await eventually(lambda: _inbox_count(api, ada, 2), what="two items in Ada's inbox")
        await asyncio.sleep(1)
        assert len(await inbox_bodies(api, ada)) == 2
    finally:
        await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)


async def _runs(api: Api, schedule_id: str) -> list[dict[str, Any]] | None:
    runs: list[dict[str, Any]] = (await get(api, schedule_id))["recent_runs"]
    return runs or None


async def test_schedule_validation_and_conflicts(api: Api) -> None:
    template = await api.template()
    ada = await api.user()
    base: dict[str, Any] = {"template": template, "data": {"name": "Ada"}, "channels": ["in_app"],
                            "audience": {"user_ids": [ada]}}

    async def refused(status: int, code: str, field: str | None = None, **body: Any) -> None:
        r = await api.http.post("/v1/schedules", json={**base, **body}, headers=api.h)
        error = assert_error(r, status, code)
        if field is not None:
            assert isinstance(error["details"], list) and error["details"][0]["field"] == field, error

    await refused(422, "validation_error", "cron")
    await refused(422, "validation_error", "cron", cron="* * * * *", interval="1h")
    await refused(422, "validation_error", "interval", interval="367d")
    await refused(422, "validation_error", "interval", interval="1 hour")
    await refused(422, "validation_error", "timezone", interval="1h", timezone="Europe/Paris")
    await refused(422, "validation_error", "timezone", cron="@daily", timezone="Mars/Olympus")
    sid = uid("sch")
    await refused(422, "invalid_schedule", "cron", id=sid, cron="61 * * * *")
    await refused(422, "invalid_schedule", "cron", id=sid, cron="every day")
    await refused(422, "unknown_template", "template", cron="@daily", template="no-such-template")
    await refused(422, "missing_variable", "data.name", cron="@daily", data={})
    await refused(422, "channel_unavailable", "channels", cron="@daily", channels=["push"])
    await refused(422, "validation_error", None, cron="@daily", audience={})
    # A refused schedule leaves nothing behind: no row, no Temporal Schedule.
    assert await api.stack.pool.fetchval("SELECT count(*) FROM schedule WHERE id = $1", sid) == 0
    assert_error(await api.http.get(f"/v1/schedules/{sid}", headers=api.h), 404, "not_found")

    # A cron expression is read in its time zone: 09:00 in Paris, whatever UTC offset that day has.
    s = await create(api, id=sid, cron="0 9 * * MON-FRI", timezone="Europe/Paris", **base)
    nexts = [datetime.fromisoformat(t).astimezone(ZoneInfo("Europe/Paris")) for t in s["next_run_times"]]
    assert nexts and all((t.hour, t.minute) == (9, 0) and t.weekday() < 5 for t in nexts), nexts
    assert all(datetime.fromisoformat(t) > datetime.now(UTC) for t in s["next_run_times"])
    # A repeat of the same request answers 200 with it; a different definition under the same id, 409.
    again = await create(api, expect=200, id=sid, cron="0 9 * * MON-FRI", timezone="Europe/Paris", **base)
    assert again["id"] == sid and again["state"] == "active"
    await refused(409, "schedule_exists", None, id=sid, cron="0 10 * * MON-FRI", timezone="Europe/Paris")
    r = await api.http.post(f"/v1/schedules/{sid}/pause", headers=api.h)
    assert r.status_code == 200 and r.json()["paused"] is True and r.json()["note"], r.text
    assert (await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)).status_code == 204
    await refused(409, "schedule_deleted", None, id=sid, cron="0 9 * * MON-FRI", timezone="Europe/Paris")
    for method, path in [("GET", ""), ("POST", "/pause"), ("POST", "/resume"), ("POST", "/trigger")]:
        assert_error(await api.http.request(method, f"/v1/schedules/{sid}{path}", headers=api.h), 404, "not_found")
    assert_error(await api.http.delete("/v1/schedules/never-was", headers=api.h), 404, "not_found")

    # A generated id when none is given.
    made = await create(api, interval="1d", **base)
    assert made["id"].startswith("sch-")
    assert (await api.http.delete(f"/v1/schedules/{made['id']}", headers=api.h)).status_code == 204


async def test_a_fire_that_cannot_send_pauses_its_schedule(api: Api) -> None:
    """The template was deleted after the schedule was made: the fire fails for good and the schedule pauses
    itself with Temporal's note, instead of failing again every interval."""
    template = await api.template()
    ada = await api.user()
    sid = uid("sch")
    await create(api, id=sid, interval="1s", template=template, data={"name": "Ada"}, channels=["in_app"],
                 audience={"user_ids": [ada]})
    try:
        assert (await api.http.delete(f"/v1/templates/{template}", headers=api.h)).status_code == 204

        async def paused() -> dict[str, Any] | None:
            s = await get(api, sid)
            return s if s["paused"] else None
        s = await eventually(paused, what="the schedule to pause itself")
        assert s["note"], s
        sent = await fired(api, sid)
        # Fires before the template went away may have sent; none after it.
        await asyncio.sleep(3)
        assert len(await fired(api, sid)) == len(sent)
    finally:
        await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)


async def test_a_schedule_made_while_temporal_is_down_is_503_with_nothing_stored_and_a_repeat_makes_it(
        api_without_temporal: httpx.AsyncClient, api: Api) -> None:
    template = await api.template()
    ada = await api.user()
    sid = uid("sch")
    body: dict[str, Any] = {"id": sid, "cron": "0 9 1 1 *", "template": template, "data": {"name": "Ada"},
                            "channels": ["in_app"],
            "audience": {"user_ids": [ada]}, "paused": True}
    assert_error(await api_without_temporal.post("/v1/schedules", json=body), 503, "temporal_unavailable")
    assert await api.stack.pool.fetchval("SELECT count(*) FROM schedule WHERE id = $1", sid) == 0
    assert_error(await api.http.get(f"/v1/schedules/{sid}", headers=api.h), 404, "not_found")
    # While it is down, reads still answer from PostgreSQL, with the state unknown; changes are 503.
    made = await create(api, **body)
    assert made["state"] == "paused"
    shown = (await api_without_temporal.get(f"/v1/schedules/{sid}")).json()
    assert (shown["id"], shown["state"], shown["paused"], shown["cron"]) == (sid, "unknown", None, "0 9 1 1 *")
    assert_error(await api_without_temporal.post(f"/v1/schedules/{sid}/resume"), 503, "temporal_unavailable")
    assert_error(await api_without_temporal.delete(f"/v1/schedules/{sid}"), 503, "temporal_unavailable")
    # That DELETE already marked it deleted, so no fire sends anything; repeating it finishes the job.
    assert_error(await api.http.get(f"/v1/schedules/{sid}", headers=api.h), 404, "not_found")
    assert f"herald-schedule-{sid}" in await temporal(api, "schedule", "list")
    assert (await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)).status_code == 204
    assert f"herald-schedule-{sid}" not in await temporal(api, "schedule", "list")


async def test_a_temporal_schedule_left_by_a_lost_answer_is_taken_over_by_the_repeat(api: Api) -> None:
    """Temporal made the schedule but its answer was lost, so the row was rolled back: the repeat of the request
    finds the schedule and makes it the requested definition instead of failing."""
    template = await api.template()
    ada = await api.user()
    sid = uid("sch")
    stale: dict[str, Any] = {"id": sid, "interval": "1d", "template": template, "data": {"name": "Ada"},
                             "channels": ["in_app"], "audience": {"user_ids": [ada]}}
    row = NewSchedule(id=sid, request_hash="stale", cron=None, every="1d", timezone=None, template=template,
                      template_version=None, data={"name": "Ada"}, channels=["in_app"], priority="marketing",
                      category=None, audience={"user_ids": [ada]})
    await api.stack.temporal.create_schedule(f"herald-schedule-{sid}",
                                             temporal_schedule(row, api.stack.settings, paused=True))
    made = await create(api, **{**stale, "interval": None, "cron": "0 9 * * *", "timezone": "Asia/Tokyo"})
    try:
        assert made["state"] == "active"
        described = await api.stack.temporal.get_schedule_handle(f"herald-schedule-{sid}").describe()
        assert list(described.schedule.spec.cron_expressions) == [] and described.schedule.spec.calendars
        assert described.schedule.spec.time_zone_name == "Asia/Tokyo" and not described.schedule.spec.intervals
        nexts = [datetime.fromisoformat(t).astimezone(ZoneInfo("Asia/Tokyo")) for t in made["next_run_times"]]
        assert nexts and all((t.hour, t.minute) == (9, 0) for t in nexts)
    finally:
        await api.http.delete(f"/v1/schedules/{sid}", headers=api.h)
