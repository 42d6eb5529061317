"""The activity log: every notification, filtered and paged by keyset; one notification's detail."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.deps import PoolDep, Principal, SettingsDep, TemporalDep
from api.errors import ApiError
from api.notification_views import public
from api.schemas import NotificationEdit
from api.web.auth import AdminPage
from api.web.render import page, parse_json, read_form, see_other
from core.models import Channel, Priority, Status
from core.settings import Settings
from services import changes, dead_letters
from services import notifications as notification_reads
from store.pagination import BadCursor, decode_cursor, encode_cursor

router = APIRouter(prefix="/ui/notifications")
PAGE_SIZE = 50
# Before these, the data can still change (the workflow's edit_data update decides; it refuses once rendered).
EDITABLE = (Status.ACCEPTED.value, Status.SCHEDULED.value)


def _choice(value: str | None, allowed: list[str]) -> str | None:
    return value if value in allowed else None


@router.get("", response_class=HTMLResponse)
async def activity(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    q = request.query_params
    filters = {
        "status": _choice(q.get("status"), [s.value for s in Status]),
        "channel": _choice(q.get("channel"), [c.value for c in Channel]),
        "priority": _choice(q.get("priority"), [p.value for p in Priority]),
        "user_id": q.get("user_id", "").strip() or None,
    }
    try:
        after = decode_cursor(q.get("cursor") or None, datetime, str)
    except BadCursor:
        after = None
    rows = await notification_reads.page(
        pool, **filters, after=(after[0], after[1]) if after else None,
        limit=PAGE_SIZE + 1)
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        cursor = encode_cursor([rows[-1].created_at.isoformat(), rows[-1].id])
        next_url = "/ui/notifications?" + urlencode({**{k: v for k, v in filters.items() if v}, "cursor": cursor})
    # The newest page refreshes itself, so a send can be watched to its end; older pages hold still.
    live_url = None if after else "/ui/notifications" + (f"?{request.url.query}" if request.url.query else "")
    return page(request, "activity.html", title="Activity", principal=principal, items=[public(r) for r in rows],
                filters=filters, next_url=next_url, live_url=live_url, statuses=[s.value for s in Status],
                channels=[c.value for c in Channel], priorities=[p.value for p in Priority])


def temporal_link(settings: Settings, workflow_id: str) -> str:
    return (f"{settings.temporal_ui_url.rstrip('/')}/namespaces/{quote(settings.temporal_namespace, safe='')}"
            f"/workflows/{quote(workflow_id, safe='')}")


@router.get("/{notification_id}", response_class=HTMLResponse)
async def detail(notification_id: str, request: Request, pool: PoolDep, settings: SettingsDep,
                 principal: AdminPage) -> HTMLResponse:
    return await _detail(request, pool, settings, principal, notification_id)


async def _detail(request: Request, pool: asyncpg.Pool, settings: Settings, principal: Principal,
                  notification_id: str, *, error: str | None = None, data_text: str | None = None) -> HTMLResponse:
    """The detail page; after a refused data edit, with the refusal and the text as typed (nothing is lost)."""
    row = await notification_reads.find(pool, notification_id)
    if row is None:
        return page(request, "not_found.html", status_code=404, title="Not found", principal=principal,
                    what=f"notification {notification_id}")
    if data_text is None:
        data_text = json.dumps(row.data, indent=2, ensure_ascii=False)
    return page(request, "notification.html", title=f"Notification {notification_id}",
                principal=principal, n=row, attempts=await notification_reads.attempts(pool, notification_id),
                temporal_url=temporal_link(settings, row.workflow_id), error=error, data_text=data_text,
                editable=row.status in EDITABLE and not row.digest)


@router.post("/{notification_id}/retry")
async def retry(notification_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminPage) -> RedirectResponse:
    retried = await dead_letters.retry(pool, temporal, [notification_id])
    return see_other(f"/ui/notifications/{quote(notification_id)}",
                     "Retry sent: delivery runs again." if retried else "Nothing to retry: it is not dead-lettered.")


@router.post("/{notification_id}/discard")
async def discard(notification_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminPage) -> RedirectResponse:
    return await _change(notification_id, dead_letters.discard(pool, temporal, notification_id),
                         "Discard sent.", refused="Not discarded")


@router.post("/{notification_id}/send-now")
async def send_now(notification_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminPage) -> RedirectResponse:
    return await _change(notification_id, changes.send_now(pool, temporal, notification_id), "Sending now.",
                         refused="Not sent now")


@router.post("/{notification_id}/data", response_class=HTMLResponse, response_model=None)
async def edit_data(notification_id: str, request: Request, pool: PoolDep, temporal: TemporalDep,
                    settings: SettingsDep, principal: AdminPage) -> HTMLResponse | RedirectResponse:
    """The form's JSON replaces the data through the same code as `PATCH /v1/notifications/{id}`."""
    text = (await read_form(request)).raw("data")

    async def refused(message: str) -> HTMLResponse:
        # 200 with the refusal named, as the send page answers a problem: the page itself is fine.
        return await _detail(request, pool, settings, principal, notification_id,
                             error=f"Data not changed: {message}", data_text=text)
    try:
        edit = NotificationEdit.model_validate({"data": parse_json(text)})
    except json.JSONDecodeError as exc:
        return await refused(f"this is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
    except ValidationError as exc:
        first = exc.errors()[0]
        return await refused(f"the data must be a JSON object: {first['msg']}")
    try:
        await changes.edit_data(pool, temporal, notification_id, edit.data)
    except ApiError as exc:  # 409 once the message is rendered ("too late to edit: ..."), 422 if it does not render
        return await refused(exc.message)
    return see_other(f"/ui/notifications/{quote(notification_id)}", "Data saved: the message will be rendered "
                     "with it.")


@router.post("/{notification_id}/reschedule")
async def reschedule(notification_id: str, request: Request, pool: PoolDep, temporal: TemporalDep,
                     _: AdminPage) -> RedirectResponse:
    back = f"/ui/notifications/{quote(notification_id)}"
    value = (await read_form(request)).get("send_at")
    try:
        # The form's datetime-local has no zone: the page says it is UTC.
        send_at = datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return see_other(back, "Not rescheduled: give a date and time.")
    return await _change(notification_id, changes.reschedule(pool, temporal, notification_id, send_at),
                         f"Rescheduled to {send_at:%Y-%m-%d %H:%M} UTC.", refused="Not rescheduled")


async def _change(notification_id: str, change: Awaitable[object], done: str, *, refused: str) -> RedirectResponse:
    """Back to the notification's page, saying `done`, or why the service refused the change."""
    try:
        await change
    except ApiError as exc:
        return see_other(f"/ui/notifications/{quote(notification_id)}", f"{refused}: {exc.message}")
    return see_other(f"/ui/notifications/{quote(notification_id)}", done)
