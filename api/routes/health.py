"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from api import metrics
from api.deps import PoolDep, TemporalDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(pool: PoolDep, temporal: TemporalDep) -> JSONResponse:
    """Ready while PostgreSQL answers: accepting needs only it (workers start the workflows from the outbox).
    Temporal's state is named, not required: while it is down sends are accepted and wait."""
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), timeout=2)
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"failing: {type(exc).__name__}"
    try:
        await asyncio.wait_for(temporal.service_client.check_health(), timeout=2)
        checks["temporal"] = "ok"
    except Exception:
        checks["temporal"] = "unavailable"
    if checks["postgres"] == "ok":
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse({"status": "unavailable", "checks": checks,
                         "error": {"code": "not_ready", "message": "postgres is not answering",
                                   "details": checks}}, status_code=503)


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus_metrics(pool: PoolDep) -> Response:
    body = await metrics.render(pool)
    return Response(body, media_type=metrics.CONTENT_TYPE)
