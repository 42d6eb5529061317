"""Recurring broadcasts as Temporal Schedules: the schedule `herald-schedule-<id>` for a stored definition.

Each fire starts a ScheduledBroadcastWorkflow `scheduled-<id>-<scheduled time>` (Temporal appends the time).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)

from activities.schedules import ScheduledBroadcastInput
from core.durations import window_seconds
from core.settings import Settings
from core.workflow_ids import scheduled_fire_workflow_id
from workflows.scheduled import ScheduledBroadcastWorkflow


def temporal_schedule(row: dict[str, Any], settings: Settings, *, paused: bool = False,
                      note: str | None = None) -> Schedule:
    """The Temporal Schedule of a stored definition.

    Overlap SKIP: a fire due while the previous fire's broadcast is still fanning out is skipped (and counted),
    never queued behind it; recurring messages arriving back to back are worse than one arriving late.
    The catch-up window lets a fire missed during an outage go out late, but not hours later; SKIP keeps
    that to one. pause_on_failure: a fire that cannot send as defined (its template deleted) pauses the
    schedule, with Temporal's note saying why, instead of failing again at every fire.
    """
    if row["cron"] is not None:
        spec = ScheduleSpec(cron_expressions=[row["cron"]], time_zone_name=row["timezone"] or "UTC")
    else:
        spec = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=window_seconds(row["every"])))])
    return Schedule(
        action=ScheduleActionStartWorkflow(ScheduledBroadcastWorkflow.run, ScheduledBroadcastInput(row["id"]),
                                           id=scheduled_fire_workflow_id(row["id"]), task_queue=settings.task_queue),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, pause_on_failure=True,
                              catchup_window=timedelta(seconds=settings.schedule_catchup_s)),
        state=ScheduleState(paused=paused, note=note),
    )
