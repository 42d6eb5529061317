"""Recurring broadcasts: each a definition in PostgreSQL and a Temporal Schedule that fires it
(services/schedules.py); every answer shows Temporal's live state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from api.deps import AdminDep, PageDep, PoolDep, ReadDep, SettingsDep, TemporalDep
from api.schemas import Page, ScheduleCreate, ScheduleNote, SchedulePublic
from services import schedules
from services.schedules import ScheduleView

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])


_AS_JSON = TypeAdapter(ScheduleView)


def _public(view: ScheduleView) -> dict[str, Any]:
    """The schedule as `SchedulePublic` shows it (the same fields)."""
    answer: dict[str, Any] = _AS_JSON.dump_python(view, mode="json")
    return answer


@router.post("", status_code=201, response_model=SchedulePublic,
             responses={200: {"model": SchedulePublic, "description": "repeat of a created schedule"}})
async def create_schedule(body: ScheduleCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep,
                          _: AdminDep) -> JSONResponse:
    view, created = await schedules.create(pool, temporal, settings, body.model_dump(mode="json"))
    return JSONResponse(_public(view), status_code=201 if created else 200)


@router.get("", response_model=Page[SchedulePublic])
async def list_schedules(pool: PoolDep, temporal: TemporalDep, page: PageDep, _: ReadDep) -> dict[str, Any]:
    after = page.decode(str)
    views = await schedules.list_page(pool, temporal, after[0] if after else None, page.fetch)
    items, next_cursor = page.cut([_public(v) for v in views], lambda r: [r["id"]])
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{schedule_id}", response_model=SchedulePublic)
async def get_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: ReadDep) -> dict[str, Any]:
    return _public(await schedules.get(pool, temporal, schedule_id))


@router.post("/{schedule_id}/pause", response_model=SchedulePublic)
async def pause_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                         body: ScheduleNote | None = None) -> dict[str, Any]:
    return _public(await schedules.pause(pool, temporal, schedule_id, body.note if body else None))


@router.post("/{schedule_id}/resume", response_model=SchedulePublic)
async def resume_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep,
                          body: ScheduleNote | None = None) -> dict[str, Any]:
    return _public(await schedules.resume(pool, temporal, schedule_id, body.note if body else None))


@router.post("/{schedule_id}/trigger", status_code=202, response_model=SchedulePublic)
async def trigger_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> dict[str, Any]:
    return _public(await schedules.trigger(pool, temporal, schedule_id))


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> Response:
    await schedules.delete(pool, temporal, schedule_id)
    return Response(status_code=204)
