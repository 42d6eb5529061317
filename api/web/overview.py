"""The overview: outcome counts, success rate, throughput, and the last hour by channel and priority."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import PoolDep
from api.web.auth import AdminPage
from api.web.render import page
from services import metrics
from services.metrics import Totals

router = APIRouter(prefix="/ui")


def figures(totals: Totals) -> dict[str, Any]:
    finished = totals.delivered + totals.dead_lettered
    return {
        **asdict(totals),
        # Of the notifications that reached an outcome, the share delivered (dead-lettered ones count against).
        "success_rate": f"{100 * totals.delivered / finished:.1f}%" if finished else "—",
        "per_minute": f"{totals.delivered_last_5m / 5:.1f}",
    }


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    return page(request, "overview.html", title="Overview", principal=principal,
                f=figures(await metrics.totals(pool)))


@router.get("/overview/totals", response_class=HTMLResponse)
async def overview_totals(request: Request, pool: PoolDep, _: AdminPage) -> HTMLResponse:
    return page(request, "overview_totals.html", f=figures(await metrics.totals(pool)))


@router.get("/overview/series")
async def overview_series(pool: PoolDep, _: AdminPage) -> dict[str, Any]:
    """The chart's data: 60 one-minute buckets ending now, per channel and per priority (zeros included)."""
    hour = await metrics.last_hour(pool)
    return {"labels": [m.strftime("%H:%M") for m in hour.minutes],
            "by_channel": hour.by_channel, "by_priority": hour.by_priority,
            "updated": f"updated {hour.now.strftime('%H:%M')} UTC"}
