"""A recurring broadcast's fire: store the broadcast for this fire time once, from the schedule's definition."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.models import BroadcastInput
from core.settings import Settings
from services import broadcasts as broadcast_service
from services.broadcasts import BroadcastRefused
from services.schedules import broadcast_spec, fire_broadcast_id, fire_key
from store import broadcasts, schedules

log = logging.getLogger("herald.schedules")
# A fire that cannot send as defined (the template was deleted, its data no longer renders): the fire fails and
# the schedule pauses itself (pause_on_failure) until an operator fixes it and resumes.
REFUSED = "ScheduledBroadcastRefused"


@dataclass
class FireInput:
    schedule_id: str
    # The fire's workflow id, `scheduled-<schedule>-<scheduled time>`: Temporal gives every fire of one
    # scheduled time the same one, so it names the fire on every retry, re-run, reset or backfill.
    fire_id: str


@dataclass
class PreparedFire:
    broadcast: BroadcastInput | None = None  # None: nothing to send (the schedule was deleted)
    workflow_id: str | None = None
    skipped: str | None = None


class ScheduleActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self._pool = pool
        self._settings = settings

    @activity.defn(name="prepare_scheduled_broadcast")
    async def prepare_fire(self, inp: FireInput) -> PreparedFire:
        """The broadcast of this fire, stored once: a second run for the same fire finds the first one's."""
        broadcast_id = fire_broadcast_id(inp.fire_id)
        row = await broadcasts.get(self._pool, broadcast_id)
        if row is None:
            schedule = await schedules.get(self._pool, inp.schedule_id)
            if schedule is None:
                log.warning("a fire of a deleted or unknown schedule sent nothing",
                            extra={"schedule_id": inp.schedule_id, "workflow_id": inp.fire_id})
                return PreparedFire(skipped=f"schedule '{inp.schedule_id}' is deleted or does not exist")
            spec = broadcast_spec(schedule)
            try:
                version = await broadcast_service.check(self._pool, self._settings, spec)
            except BroadcastRefused as exc:
                raise ApplicationError(f"{exc.field}: {exc.message}", {"code": exc.code}, type=REFUSED,
                                       non_retryable=True) from exc
            row, _ = await broadcast_service.store(self._pool, spec, version, broadcast_id=broadcast_id,
                                                   key=fire_key(inp.fire_id), fingerprint=schedule.request_hash,
                                                   schedule_id=schedule.id)
        if row.schedule_id != inp.schedule_id:  # an API client chose this very idempotency key
            raise ApplicationError(f"broadcast '{broadcast_id}' belongs to no fire of schedule '{inp.schedule_id}'",
                                   type=REFUSED, non_retryable=True)
        return PreparedFire(broadcast=broadcast_service.workflow_input(row, self._settings),
                            workflow_id=row.workflow_id)
