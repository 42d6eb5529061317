"""The overview: outcome counts, success rate, throughput, and the last hour by channel and priority."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import PoolDep
from api.web.auth import AdminPage
from api.web.render import page
from core.models import Channel, Priority
from store import dashboard

router = APIRouter(prefix="/ui")


def figures(totals: dict[str, int]) -> dict[str, Any]:
    finished = totals["delivered"] + totals["dead_lettered"]
    return {
        **totals,
        # Of the notifications that reached an outcome, the share delivered (dead-lettered ones count against).
        "success_rate": f"{100 * totals['delivered'] / finished:.1f}%" if finished else "—",
        "per_minute": f"{totals['delivered_last_5m'] / 5:.1f}",
    }


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    return page(request, "overview.html", title="Overview", principal=principal,
                f=figures(await dashboard.totals(pool)))


@router.get("/overview/totals", response_class=HTMLResponse)
async def overview_totals(request: Request, pool: PoolDep, _: AdminPage) -> HTMLResponse:
    return page(request, "overview_totals.html", f=figures(await dashboard.totals(pool)))


@router.get("/overview/series")
async def overview_series(pool: PoolDep, _: AdminPage) -> dict[str, Any]:
    """The chart's data: 60 one-minute buckets ending now, per channel and per priority (zeros included)."""
    hour = await dashboard.last_hour(pool)
    minutes = [hour["now"] - timedelta(minutes=59 - i) for i in range(60)]
    index = {m: i for i, m in enumerate(minutes)}

    def series(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, list[int]]:
        out = {k: [0] * 60 for k in keys}
        for r in rows:
            if r["minute"] in index:
                out.setdefault(r["key"], [0] * 60)[index[r["minute"]]] += r["n"]
        # Only series with data get a legend entry; a quiet hour still shows one (empty) series, not a blank.
        busy = {k: v for k, v in out.items() if any(v)}
        return busy or {keys[0]: out[keys[0]]}

    return {"labels": [m.strftime("%H:%M") for m in minutes],
            "by_channel": series(hour["by_channel"], [c.value for c in Channel]),
            "by_priority": series(hour["by_priority"], [p.value for p in Priority]),
            "updated": f"updated {hour['now'].strftime('%H:%M')} UTC"}
