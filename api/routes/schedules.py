"""Recurring broadcasts: each a definition in PostgreSQL and a Temporal Schedule that fires it.

Creation stores the row and creates the Temporal Schedule in one database transaction: the row is committed
only once Temporal has the schedule, so a failure leaves no definition without its schedule. Temporal holds
the live state (paused, note, next fires, recent fires); each answer reads it with a describe.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from typing import Any

import asyncpg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.schedules import broadcast_spec, fire_broadcast_id
from api.deps import AdminDep, PageDep, PoolDep, ReadDep, SettingsDep, TemporalDep
from api.errors import ApiError, invalid, not_found
from api.routes.broadcasts import check_or_422
from api.schemas import Page, ScheduleCreate, ScheduleNote, SchedulePublic
from core.durations import window_seconds
from core.ids import request_fingerprint
from core.scheduling import temporal_schedule
from core.settings import Settings
from core.workflow_ids import temporal_schedule_id
from services import starting as dispatch
from store import schedules

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])
MAX_INTERVAL_S = 366 * 86400
_RETRY_AFTER = {"Retry-After": "5"}


@router.post("", status_code=201, response_model=SchedulePublic,
             responses={200: {"model": SchedulePublic, "description": "repeat of a created schedule"}})
async def create_schedule(body: ScheduleCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep,
                          _: AdminDep) -> JSONResponse:
    _check_timing(body, settings)
    new = schedules.NewSchedule(
        id=body.id or f"sch-{secrets.token_hex(8)}",
        # The definition, not its state: a repeat that asks paused differently is still the same schedule.
        request_hash=request_fingerprint(body.model_dump(mode="json", exclude={"paused", "note"})),
        cron=body.cron, every=body.interval, timezone=body.timezone, template=body.template,
        template_version=body.template_version, data=body.data, channels=[c.value for c in body.channels],
        priority=body.priority.value, category=body.category, audience=body.audience.model_dump(exclude_none=True))
    await check_or_422(pool, settings, broadcast_spec(dataclasses.asdict(new)))
    async with pool.acquire() as conn, conn.transaction():
        row, created = await schedules.insert(conn, new)
        if created:  # an error raised here rolls the row back with it
            await _create_in_temporal(temporal, settings, row, paused=body.paused, note=body.note)
    if not created:
        if row["deleted_at"] is not None:
            raise ApiError(409, "schedule_deleted", f"schedule '{row['id']}' was deleted; a deleted schedule's id "
                           "is not reused", {"schedule_id": row["id"]})
        if row["request_hash"] != new.request_hash:
            raise ApiError(409, "schedule_exists", f"schedule '{row['id']}' exists with a different definition",
                           {"schedule_id": row["id"]})
    return JSONResponse(await public(pool, temporal, row), status_code=201 if created else 200)


def _check_timing(body: ScheduleCreate, settings: Settings) -> None:
    if (body.cron is None) == (body.interval is None):
        raise invalid("cron", 'give exactly one of "cron" (e.g. "0 9 * * MON-FRI") or "interval" (e.g. "1h")')
    if body.interval is not None:
        seconds = window_seconds(body.interval)
        if not settings.schedule_min_interval_s <= seconds <= MAX_INTERVAL_S:
            raise invalid("interval", f"must be between {settings.schedule_min_interval_s} s and 366 days")
        if body.timezone is not None:
            raise invalid("timezone", "a time zone applies to a cron expression only")


async def _create_in_temporal(temporal: Client, settings: Settings, row: dict[str, Any], *, paused: bool,
                              note: str | None) -> None:
    schedule = temporal_schedule(row, settings, paused=paused, note=note)
    schedule_id = temporal_schedule_id(row["id"])
    try:
        try:
            await temporal.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            # Left by an earlier attempt whose answer was lost (its row rolled back): make it this definition.
            def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)
            await temporal.get_schedule_handle(schedule_id).update(replace)
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.INVALID_ARGUMENT:
            field = "timezone" if "time zone" in exc.message else "cron" if row["cron"] else "interval"
            raise invalid(field, f"Temporal refused the schedule: {exc.message}", code="invalid_schedule") from exc
        if not dispatch.is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable", "Temporal did not answer; nothing was created: repeat the "
                       "request (with the same id)", headers=_RETRY_AFTER) from exc


@router.get("", response_model=Page[SchedulePublic])
async def list_schedules(pool: PoolDep, temporal: TemporalDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    after = page.decode(str)
    items = await list_page(pool, temporal, after[0] if after else None, page.fetch)
    items, next_cursor = page.cut(items, lambda r: [r["id"]])
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{schedule_id}", response_model=SchedulePublic)
async def get_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: ReadDep) -> dict[str, Any]:
    return await public(pool, temporal, await _live(pool, schedule_id))


@router.post("/{schedule_id}/pause", response_model=SchedulePublic)
async def pause_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                         body: ScheduleNote | None = None) -> dict[str, Any]:
    return await pause(pool, temporal, schedule_id, body.note if body else None)


@router.post("/{schedule_id}/resume", response_model=SchedulePublic)
async def resume_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                          body: ScheduleNote | None = None) -> dict[str, Any]:
    return await resume(pool, temporal, schedule_id, body.note if body else None)


@router.post("/{schedule_id}/trigger", status_code=202, response_model=SchedulePublic)
async def trigger_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> dict[str, Any]:
    return await trigger(pool, temporal, schedule_id)


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> Response:
    await delete(pool, temporal, schedule_id)
    return Response(status_code=204)


# The actions, shared by the routes above and the dashboard's schedules page.

async def pause(pool: asyncpg.Pool, temporal: Client, schedule_id: str, note: str | None) -> dict[str, Any]:
    row = await _live(pool, schedule_id)
    await _act(temporal, row, lambda h: h.pause(note=note or "paused through Herald"))
    return await public(pool, temporal, row)


async def resume(pool: asyncpg.Pool, temporal: Client, schedule_id: str, note: str | None) -> dict[str, Any]:
    row = await _live(pool, schedule_id)
    await _act(temporal, row, lambda h: h.unpause(note=note or "resumed through Herald"))
    return await public(pool, temporal, row)


async def trigger(pool: asyncpg.Pool, temporal: Client, schedule_id: str) -> dict[str, Any]:
    """Fires now, paused or not, and even while an earlier fire's broadcast still runs (ALLOW_ALL)."""
    row = await _live(pool, schedule_id)
    await _act(temporal, row, lambda h: h.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL))
    return await public(pool, temporal, row)


async def delete(pool: asyncpg.Pool, temporal: Client, schedule_id: str) -> None:
    """Marks the row deleted first (a fire from then on sends nothing), then deletes the Temporal Schedule.
    Deleting again is a no-op that also finishes a Temporal delete that failed."""
    if not await schedules.mark_deleted(pool, schedule_id):
        raise not_found("schedule", schedule_id)
    try:
        await temporal.get_schedule_handle(temporal_schedule_id(schedule_id)).delete()
    except (RPCError, RuntimeError) as exc:
        if not (isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND):
            if not dispatch.is_outage(exc):
                raise
            raise ApiError(503, "temporal_unavailable", "the schedule is deleted and sends nothing more, but its "
                           "Temporal Schedule could not be removed: repeat the DELETE", headers=_RETRY_AFTER) from exc


async def list_page(pool: asyncpg.Pool, temporal: Client, after: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` live schedules after the id `after`, each with Temporal's state (8 describes at a time)."""
    rows = await schedules.list_live(pool, after, limit)
    bound = asyncio.Semaphore(8)

    async def one(row: dict[str, Any]) -> dict[str, Any]:
        async with bound:
            return await public(pool, temporal, row)
    return list(await asyncio.gather(*(one(r) for r in rows)))


async def _live(pool: asyncpg.Pool, schedule_id: str) -> dict[str, Any]:
    row = await schedules.get(pool, schedule_id)
    if row is None:
        raise not_found("schedule", schedule_id)
    return row


async def _act(temporal: Client, row: dict[str, Any], action: Any) -> None:
    try:
        await action(temporal.get_schedule_handle(temporal_schedule_id(row["id"])))
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "schedule_missing", f"the Temporal Schedule of '{row['id']}' is gone (deleted "
                           "outside Herald); DELETE the schedule and create it again") from exc
        if not dispatch.is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable", f"Temporal did not answer: {exc}", headers=_RETRY_AFTER) from exc


async def _describe(temporal: Client, schedule_id: str) -> ScheduleDescription | str:
    """Temporal's view of the schedule, or the state to show when there is none: "missing" or "unknown"."""
    handle: ScheduleHandle = temporal.get_schedule_handle(temporal_schedule_id(schedule_id))
    try:
        return await handle.describe()
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return "missing"
        if not dispatch.is_outage(exc):
            raise
        return "unknown"


async def public(pool: asyncpg.Pool, temporal: Client, row: dict[str, Any]) -> dict[str, Any]:
    description = await _describe(temporal, row["id"])
    public: dict[str, Any] = {
        "id": row["id"], "temporal_schedule_id": temporal_schedule_id(row["id"]), "cron": row["cron"],
        "interval": row["every"], "timezone": row["timezone"], "template": row["template"],
        "template_version": row["template_version"], "data": row["data"], "channels": list(row["channels"]),
        "priority": row["priority"], "category": row["category"], "audience": row["audience"],
        "created_at": row["created_at"], "state": description, "paused": None, "note": None,
        "next_run_times": [], "recent_runs": [], "fires": None, "skipped_overlap": None,
        "missed_catchup_window": None,
    }
    if isinstance(description, str):
        return SchedulePublic(**public).model_dump(mode="json")
    info, state = description.info, description.schedule.state
    fires = [(a.scheduled_at, a.started_at, a.action.workflow_id) for a in reversed(info.recent_actions)
             if isinstance(a.action, ScheduleActionExecutionStartWorkflow)]
    made = await schedules.broadcasts(pool, [fire_broadcast_id(w) for _, _, w in fires])
    runs = []
    for scheduled_at, started_at, workflow_id in fires:
        broadcast = made.get(fire_broadcast_id(workflow_id))
        runs.append({"scheduled_at": scheduled_at, "started_at": started_at, "workflow_id": workflow_id,
                     "broadcast_id": fire_broadcast_id(workflow_id),
                     "broadcast_status": broadcast["status"] if broadcast else None,
                     "recipients": broadcast["recipients"] if broadcast else None})
    public.update(state="paused" if state.paused else "active", paused=state.paused, note=state.note or None,
                  next_run_times=list(info.next_action_times), recent_runs=runs, fires=info.num_actions,
                  skipped_overlap=info.num_actions_skipped_overlap,
                  missed_catchup_window=info.num_actions_missed_catchup_window)
    return SchedulePublic(**public).model_dump(mode="json")
