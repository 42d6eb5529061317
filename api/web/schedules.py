"""The schedules page: recurring broadcasts with Temporal's live state; pause, resume, fire now, delete."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import PoolDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.web.auth import AdminPage
from api.web.render import page, read_form, see_other
from core.settings import Settings
from core.workflow_ids import temporal_schedule_id
from services import schedules as schedule_service

router = APIRouter(prefix="/ui/schedules")
PAGE_SIZE = 50


@router.get("", response_class=HTMLResponse)
async def schedules(request: Request, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep,
                    principal: AdminPage) -> HTMLResponse:
    after = request.query_params.get("after") or None
    items = await schedule_service.list_page(pool, temporal, after, PAGE_SIZE + 1)
    next_url = None
    if len(items) > PAGE_SIZE:
        items = items[:PAGE_SIZE]
        next_url = f"/ui/schedules?after={quote(items[-1].id)}"
    base = _temporal_schedules(settings)
    return page(request, "schedules.html", title="Schedules", principal=principal, items=items, next_url=next_url,
                temporal_schedules=base,
                temporal_links={s.id: f"{base}/{quote(temporal_schedule_id(s.id), safe='')}" for s in items})


def _temporal_schedules(settings: Settings) -> str:
    return (f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace, safe='')}"
            "/schedules")


async def _done(schedule_id: str, action: str, notice: str, request: Request, pool: PoolDep,
                temporal: TemporalDep) -> RedirectResponse:
    note = (await read_form(request)).optional("note")
    try:
        if action == "pause":
            await schedule_service.pause(pool, temporal, schedule_id, note)
        elif action == "resume":
            await schedule_service.resume(pool, temporal, schedule_id, note)
        elif action == "trigger":
            await schedule_service.trigger(pool, temporal, schedule_id)
        else:
            await schedule_service.delete(pool, temporal, schedule_id)
    except ApiError as exc:
        return see_other("/ui/schedules", f"{schedule_id}: {exc.message}")
    return see_other("/ui/schedules", f"{schedule_id}: {notice}")


@router.post("/{schedule_id}/pause")
async def pause(schedule_id: str, request: Request, pool: PoolDep, temporal: TemporalDep,
                _: AdminPage) -> RedirectResponse:
    return await _done(schedule_id, "pause", "paused.", request, pool, temporal)


@router.post("/{schedule_id}/resume")
async def resume(schedule_id: str, request: Request, pool: PoolDep, temporal: TemporalDep,
                 _: AdminPage) -> RedirectResponse:
    return await _done(schedule_id, "resume", "resumed.", request, pool, temporal)


@router.post("/{schedule_id}/trigger")
async def trigger(schedule_id: str, request: Request, pool: PoolDep, temporal: TemporalDep,
                  _: AdminPage) -> RedirectResponse:
    return await _done(schedule_id, "trigger", "fired now; its broadcast shows under Last fire in a moment.",
                       request, pool, temporal)


@router.post("/{schedule_id}/delete")
async def delete(schedule_id: str, request: Request, pool: PoolDep, temporal: TemporalDep,
                 _: AdminPage) -> RedirectResponse:
    return await _done(schedule_id, "delete", "deleted; it sends nothing more.", request, pool, temporal)
