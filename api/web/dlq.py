"""The dead-letter queue page: failures with their errors; retry or discard one, a selection, or all."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import PoolDep, TemporalDep
from api.errors import ApiError
from api.web.auth import AdminPage
from api.web.render import page, read_form, see_other, whole_number
from core.models import Channel
from services import dead_letters

router = APIRouter(prefix="/ui/dlq")
PAGE_SIZE = 100
BIGINT_MAX = 2**63 - 1  # dead-letter ids are bigserial


@router.get("", response_class=HTMLResponse)
async def dlq(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    channel = request.query_params.get("channel") or None
    channel = channel if channel in [c.value for c in Channel] else None
    after = request.query_params.get("after", "")
    rows = await dead_letters.page(pool, channel=channel, after=whole_number(after, BIGINT_MAX),
                                   limit=PAGE_SIZE + 1)
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_url = f"/ui/dlq?after={rows[-1].cursor_id}" + (f"&channel={channel}" if channel else "")
    return page(request, "dlq.html", title="Dead letters", principal=principal, items=rows, next_url=next_url,
                channel=channel, channels=[c.value for c in Channel])


async def _chosen(request: Request) -> tuple[list[str] | None, str]:
    """The ids an action applies to: one row's button, the ticked rows, or every parked notification."""
    form = await read_form(request)
    if form.get("one"):
        return [form.get("one")], "1 notification"
    if form.get("all"):
        return None, "every dead letter"
    ids = form.getlist("ids")
    return ids, f"{len(ids)} selected"


@router.post("/retry")
async def retry(request: Request, pool: PoolDep, temporal: TemporalDep, _: AdminPage) -> RedirectResponse:
    ids, what = await _chosen(request)
    if ids == []:
        return see_other("/ui/dlq", "Nothing selected.")
    retried = await dead_letters.retry(pool, temporal, ids)
    return see_other("/ui/dlq", f"Retry sent to {retried} notification(s) ({what}).")


@router.post("/discard")
async def discard(request: Request, pool: PoolDep, temporal: TemporalDep, _: AdminPage) -> RedirectResponse:
    ids, what = await _chosen(request)
    if ids is None:
        ids = await dead_letters.open_ids(pool)
    if not ids:
        return see_other("/ui/dlq", "Nothing selected.")
    discarded, refused = 0, []
    for notification_id in ids:
        try:
            await dead_letters.discard(pool, temporal, notification_id)
            discarded += 1
        except ApiError as exc:
            refused.append(f"{notification_id}: {exc.message}")
    notice = f"Discard sent to {discarded} notification(s) ({what})."
    return see_other("/ui/dlq", notice + (f" Not discarded: {'; '.join(refused[:5])}" if refused else ""))
