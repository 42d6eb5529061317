"""Recurring broadcasts: each a definition in PostgreSQL and a Temporal Schedule `herald-schedule-<id>` that fires
it; each fire starts a ScheduledBroadcastWorkflow `scheduled-<id>-<scheduled time>` (Temporal appends the time).

Creation stores the row and creates the Temporal Schedule in one database transaction: the row is committed
only once Temporal has the schedule, so a failure leaves no definition without its schedule. Temporal holds
the live state (paused, note, next fires, recent fires); each answer reads it with a describe.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from core.durations import window_seconds
from core.errors import Problem, invalid, not_found
from core.ids import notification_id_for_key, request_fingerprint
from core.models import ScheduledBroadcastInput
from core.temporal import is_outage
from core.workflow_ids import scheduled_fire_workflow_id, temporal_schedule_id
from services import broadcasts as broadcast_service
from services.broadcasts import BroadcastSpec
from store import schedules
from store.schedules import NewSchedule, ScheduleRecord

if TYPE_CHECKING:
    import asyncpg

    from core.settings import Settings

MAX_INTERVAL_S = 366 * 86400
_RETRY_AFTER = {"Retry-After": "5"}


# "unknown" when Temporal does not answer, "missing" when its schedule was deleted outside Herald.
LiveState = Literal["active", "paused", "missing", "unknown"]


@dataclass(frozen=True)
class ScheduleRun:
    """One recent fire of a schedule, and the broadcast it made."""

    scheduled_at: datetime
    started_at: datetime
    workflow_id: str
    broadcast_id: str
    # None: the fire has not stored its broadcast yet, or sent nothing (the schedule was deleted).
    broadcast_status: str | None
    recipients: int | None


@dataclass(frozen=True)
class ScheduleView:
    """A stored schedule with Temporal's live state (`state` is "unknown" when Temporal does not answer and
    "missing" when its schedule was deleted outside Herald; the live fields are then None or empty)."""

    id: str
    temporal_schedule_id: str
    cron: str | None
    interval: str | None
    timezone: str | None
    template: str
    template_version: int | None
    data: dict[str, Any]
    channels: list[str]
    priority: str
    category: str | None
    audience: dict[str, Any]
    created_at: datetime
    state: LiveState
    paused: bool | None
    note: str | None
    next_run_times: list[datetime]
    recent_runs: list[ScheduleRun]
    fires: int | None
    skipped_overlap: int | None
    missed_catchup_window: int | None

    @property
    def next_fire(self) -> datetime | None:
        return self.next_run_times[0] if self.next_run_times else None

    @property
    def last_fire(self) -> datetime | None:
        return self.recent_runs[0].scheduled_at if self.recent_runs else None


def fire_key(fire_id: str) -> str:
    """The idempotency key of a fire's broadcast."""
    return f"schedule:{fire_id}"


def fire_broadcast_id(fire_id: str) -> str:
    """A fire's broadcast id, derived as the API derives one from its idempotency key."""
    return notification_id_for_key(f"broadcast:{fire_key(fire_id)}")


def broadcast_spec(schedule: ScheduleRecord | NewSchedule) -> BroadcastSpec:
    return BroadcastSpec(template=schedule.template, template_version=schedule.template_version,
                         data=schedule.data, channels=list(schedule.channels), priority=schedule.priority,
                         category=schedule.category, audience=schedule.audience)


def temporal_schedule(schedule: ScheduleRecord | NewSchedule, settings: Settings, *, paused: bool = False,
                      note: str | None = None) -> Schedule:
    """The Temporal Schedule of a stored definition.

    Overlap SKIP: a fire due while the previous fire's broadcast is still fanning out is skipped (and counted),
    never queued behind it; recurring messages arriving back to back are worse than one arriving late.
    The catch-up window lets a fire missed during an outage go out late, but not hours later; SKIP keeps
    that to one. pause_on_failure: a fire that cannot send as defined (its template deleted) pauses the
    schedule, with Temporal's note saying why, instead of failing again at every fire.
    """
    if schedule.cron is not None:
        spec = ScheduleSpec(cron_expressions=[schedule.cron], time_zone_name=schedule.timezone or "UTC")
    else:
        assert schedule.every is not None  # the table holds exactly one of the two
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=window_seconds(schedule.every)))])
    return Schedule(
        # By name: services start workflows without importing them.
        action=ScheduleActionStartWorkflow("ScheduledBroadcastWorkflow", ScheduledBroadcastInput(schedule.id),
                                           id=scheduled_fire_workflow_id(schedule.id), task_queue=settings.task_queue),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, pause_on_failure=True,
                              catchup_window=timedelta(seconds=settings.schedule_catchup_s)),
        state=ScheduleState(paused=paused, note=note),
    )


async def create(pool: asyncpg.Pool, temporal: Client, settings: Settings,
                 sent: dict[str, Any]) -> tuple[ScheduleView, bool]:
    """Stores a schedule and creates its Temporal Schedule: (schedule, True), or (schedule, False) for a repeat of
    the same definition. `sent` is the validated request body (the API's ScheduleCreate, as JSON)."""
    _check_timing(sent, settings)
    new = NewSchedule(
        id=sent.get("id") or f"sch-{secrets.token_hex(8)}",
        # The definition, not its state: a repeat that asks paused differently is still the same schedule.
        request_hash=request_fingerprint({k: v for k, v in sent.items() if k not in ("paused", "note")}),
        cron=sent["cron"], every=sent["interval"], timezone=sent["timezone"], template=sent["template"],
        template_version=sent["template_version"], data=sent["data"], channels=list(sent["channels"]),
        priority=sent["priority"], category=sent["category"],
        audience={k: v for k, v in sent["audience"].items() if v is not None})
    await broadcast_service.check(pool, settings, broadcast_spec(new))
    async with pool.acquire() as conn, conn.transaction():
        row, created = await schedules.insert(conn, new)
        if created:  # an error raised here rolls the row back with it
            await _create_in_temporal(temporal, settings, row, paused=sent["paused"], note=sent["note"])
    if not created:
        if row.deleted_at is not None:
            raise Problem(409, "schedule_deleted", f"schedule '{row.id}' was deleted; a deleted schedule's id "
                          "is not reused", {"schedule_id": row.id})
        if row.request_hash != new.request_hash:
            raise Problem(409, "schedule_exists", f"schedule '{row.id}' exists with a different definition",
                          {"schedule_id": row.id})
    return await view(pool, temporal, row), created


def _check_timing(sent: dict[str, Any], settings: Settings) -> None:
    cron, interval = sent["cron"], sent["interval"]
    if (cron is None) == (interval is None):
        raise invalid("cron", 'give exactly one of "cron" (e.g. "0 9 * * MON-FRI") or "interval" (e.g. "1h")')
    if interval is not None:
        seconds = window_seconds(interval)
        if not settings.schedule_min_interval_s <= seconds <= MAX_INTERVAL_S:
            raise invalid("interval", f"must be between {settings.schedule_min_interval_s} s and 366 days")
        if sent["timezone"] is not None:
            raise invalid("timezone", "a time zone applies to a cron expression only")


async def _create_in_temporal(temporal: Client, settings: Settings, row: ScheduleRecord, *, paused: bool,
                              note: str | None) -> None:
    schedule = temporal_schedule(row, settings, paused=paused, note=note)
    schedule_id = temporal_schedule_id(row.id)
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
            field = "timezone" if "time zone" in exc.message else "cron" if row.cron else "interval"
            raise invalid(field, f"Temporal refused the schedule: {exc.message}", code="invalid_schedule") from exc
        if not is_outage(exc):
            raise
        raise Problem(503, "temporal_unavailable", "Temporal did not answer; nothing was created: repeat the "
                      "request (with the same id)", headers=_RETRY_AFTER) from exc


async def get(pool: asyncpg.Pool, temporal: Client, schedule_id: str) -> ScheduleView:
    return await view(pool, temporal, await _live(pool, schedule_id))


async def pause(pool: asyncpg.Pool, temporal: Client, schedule_id: str, note: str | None) -> ScheduleView:
    row = await _live(pool, schedule_id)
    await _act(temporal, row, lambda h: h.pause(note=note or "paused through Herald"))
    return await view(pool, temporal, row)


async def resume(pool: asyncpg.Pool, temporal: Client, schedule_id: str, note: str | None) -> ScheduleView:
    row = await _live(pool, schedule_id)
    await _act(temporal, row, lambda h: h.unpause(note=note or "resumed through Herald"))
    return await view(pool, temporal, row)


async def trigger(pool: asyncpg.Pool, temporal: Client, schedule_id: str) -> ScheduleView:
    """Fires now, paused or not, and even while an earlier fire's broadcast still runs (ALLOW_ALL)."""
    row = await _live(pool, schedule_id)
    await _act(temporal, row, lambda h: h.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL))
    return await view(pool, temporal, row)


async def delete(pool: asyncpg.Pool, temporal: Client, schedule_id: str) -> None:
    """Marks the row deleted first (a fire from then on sends nothing), then deletes the Temporal Schedule.
    Deleting again is a no-op that also finishes a Temporal delete that failed."""
    if not await schedules.mark_deleted(pool, schedule_id):
        raise not_found("schedule", schedule_id)
    try:
        await temporal.get_schedule_handle(temporal_schedule_id(schedule_id)).delete()
    except (RPCError, RuntimeError) as exc:
        if not (isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND):
            if not is_outage(exc):
                raise
            raise Problem(503, "temporal_unavailable", "the schedule is deleted and sends nothing more, but its "
                          "Temporal Schedule could not be removed: repeat the DELETE", headers=_RETRY_AFTER) from exc


async def list_page(pool: asyncpg.Pool, temporal: Client, after: str | None, limit: int) -> list[ScheduleView]:
    """Up to `limit` live schedules after the id `after`, each with Temporal's state (8 describes at a time)."""
    rows = await schedules.list_live(pool, after, limit)
    bound = asyncio.Semaphore(8)

    async def one(row: ScheduleRecord) -> ScheduleView:
        async with bound:
            return await view(pool, temporal, row)
    return list(await asyncio.gather(*(one(r) for r in rows)))


async def _live(pool: asyncpg.Pool, schedule_id: str) -> ScheduleRecord:
    row = await schedules.get(pool, schedule_id)
    if row is None:
        raise not_found("schedule", schedule_id)
    return row


async def _act(temporal: Client, row: ScheduleRecord, action: Callable[[ScheduleHandle], Awaitable[None]]) -> None:
    try:
        await action(temporal.get_schedule_handle(temporal_schedule_id(row.id)))
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            raise Problem(409, "schedule_missing", f"the Temporal Schedule of '{row.id}' is gone (deleted "
                          "outside Herald); DELETE the schedule and create it again") from exc
        if not is_outage(exc):
            raise
        raise Problem(503, "temporal_unavailable", f"Temporal did not answer: {exc}", headers=_RETRY_AFTER) from exc


async def _describe(temporal: Client, schedule_id: str) -> ScheduleDescription | Literal["missing", "unknown"]:
    """Temporal's view of the schedule, or the state to show when there is none: "missing" or "unknown"."""
    handle: ScheduleHandle = temporal.get_schedule_handle(temporal_schedule_id(schedule_id))
    try:
        return await handle.describe()
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return "missing"
        if not is_outage(exc):
            raise
        return "unknown"


async def view(pool: asyncpg.Pool, temporal: Client, row: ScheduleRecord) -> ScheduleView:
    description = await _describe(temporal, row.id)
    stored: dict[str, Any] = {
        "id": row.id, "temporal_schedule_id": temporal_schedule_id(row.id), "cron": row.cron,
        "interval": row.every, "timezone": row.timezone, "template": row.template,
        "template_version": row.template_version, "data": row.data, "channels": list(row.channels),
        "priority": row.priority, "category": row.category, "audience": row.audience,
        "created_at": row.created_at,
    }
    if isinstance(description, str):
        return ScheduleView(**stored, state=description, paused=None, note=None, next_run_times=[], recent_runs=[],
                            fires=None, skipped_overlap=None, missed_catchup_window=None)
    info, state = description.info, description.schedule.state
    fires = [(a.scheduled_at, a.started_at, a.action.workflow_id) for a in reversed(info.recent_actions)
             if isinstance(a.action, ScheduleActionExecutionStartWorkflow)]
    made = await schedules.broadcasts(pool, [fire_broadcast_id(w) for _, _, w in fires])
    runs = []
    for scheduled_at, started_at, workflow_id in fires:
        broadcast = made.get(fire_broadcast_id(workflow_id))
        runs.append(ScheduleRun(scheduled_at=scheduled_at, started_at=started_at, workflow_id=workflow_id,
                                broadcast_id=fire_broadcast_id(workflow_id),
                                broadcast_status=broadcast.status if broadcast else None,
                                recipients=broadcast.recipients if broadcast else None))
    return ScheduleView(**stored, state="paused" if state.paused else "active", paused=state.paused,
                        note=state.note or None, next_run_times=list(info.next_action_times), recent_runs=runs,
                        fires=info.num_actions, skipped_overlap=info.num_actions_skipped_overlap,
                        missed_catchup_window=info.num_actions_missed_catchup_window)
