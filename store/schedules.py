"""Recurring broadcasts: the definitions behind the Temporal Schedules `herald-schedule-<id>`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor

_COLUMNS = """id, request_hash, cron, every, timezone, template, template_version, data, channels, priority,
              category, audience, created_at, deleted_at"""


@dataclass(frozen=True)
class NewSchedule:
    """A schedule's definition, as its request gives it."""

    id: str
    request_hash: str
    cron: str | None
    every: str | None  # the API's `interval`
    timezone: str | None
    template: str
    template_version: int | None  # None: the template's latest version at each fire
    data: dict[str, Any]
    channels: list[str]
    priority: str
    category: str | None
    audience: dict[str, Any]


@dataclass(frozen=True)
class ScheduleRecord(NewSchedule):
    """A stored schedule: its definition and when it was made and deleted."""

    created_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class FireBroadcast:
    """What a schedule's answer shows of the broadcast one fire made."""

    id: str
    status: str
    recipients: int


async def insert(conn: Executor, s: NewSchedule) -> tuple[ScheduleRecord, bool]:
    """Inserts the schedule, or returns the row that already holds its id (deleted or not) and False."""
    row = await conn.fetchrow(
        f"""INSERT INTO schedule (id, request_hash, cron, every, timezone, template, template_version, data,
                                  channels, priority, category, audience)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}""",
        s.id, s.request_hash, s.cron, s.every, s.timezone, s.template, s.template_version, s.data, s.channels,
        s.priority, s.category, s.audience,
    )
    created = row is not None
    if row is None:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM schedule WHERE id = $1", s.id)
    record = one(ScheduleRecord, row)
    assert record is not None
    return record, created


async def get(conn: Executor, schedule_id: str, *, deleted: bool = False) -> ScheduleRecord | None:
    """The schedule; a deleted one only when `deleted`."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM schedule WHERE id = $1 AND ($2 OR deleted_at IS NULL)", schedule_id, deleted)
    return one(ScheduleRecord, row)


async def list_live(conn: Executor, after: str | None, limit: int) -> list[ScheduleRecord]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM schedule WHERE deleted_at IS NULL AND ($1::text IS NULL OR id > $1)
            ORDER BY id LIMIT $2""",
        after, limit,
    )
    return many(ScheduleRecord, rows)


async def mark_deleted(conn: Executor, schedule_id: str) -> bool:
    """Marks the schedule deleted (its fires from now on send nothing); False if no such schedule exists."""
    row = await conn.fetchrow(
        "UPDATE schedule SET deleted_at = coalesce(deleted_at, now()) WHERE id = $1 RETURNING id", schedule_id)
    return row is not None


async def broadcasts(conn: Executor, broadcast_ids: list[str]) -> dict[str, FireBroadcast]:
    """Status and size of the broadcasts some fires made, by id."""
    rows = await conn.fetch(
        "SELECT id, status, recipients FROM broadcast WHERE id = ANY($1::text[])", broadcast_ids)
    return {b.id: b for b in many(FireBroadcast, rows)}
