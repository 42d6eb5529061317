"""Broadcasts: one message to many users, fanned out by a BroadcastWorkflow; progress from the read model."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api import dispatch
from api.deps import AdminDep, PoolDep, SendDep, SettingsDep, StatusDep, TemporalDep
from api.errors import ApiError, invalid, not_found
from api.routes.templates import render_or_422
from api.schemas import BroadcastCreate, BroadcastPublic
from core.ids import new_idempotency_key, notification_id_for_key, request_fingerprint
from core.models import BroadcastInput
from core.settings import Settings
from core.temporal import task_priority
from providers.registry import chain_names
from store import broadcasts, templates
from workflows.broadcast import BroadcastWorkflow

router = APIRouter(prefix="/v1/broadcasts", tags=["broadcasts"])
# What a template sees as `user` when a broadcast is checked before anyone is chosen.
_SAMPLE_USER = {"id": "sample", "name": "Sample", "email": None, "phone": None, "locale": None, "timezone": None}


async def _public(pool: Any, row: dict[str, Any]) -> dict[str, Any]:
    return BroadcastPublic(id=row["id"], workflow_id=row["workflow_id"], status=row["status"],
                           recipients=row["recipients"], counts=await broadcasts.counts(pool, row["id"])
                           ).model_dump(mode="json")


@router.post("", status_code=202, response_model=BroadcastPublic,
             responses={200: {"model": BroadcastPublic, "description": "repeat of an accepted request"}})
async def create_broadcast(body: BroadcastCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep,
                           _: SendDep,
                           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
                           = None) -> JSONResponse:
    status, broadcast = await start(pool, temporal, settings, body, idempotency_key)
    return JSONResponse(broadcast, status_code=status)


async def start(pool: asyncpg.Pool, temporal: Client, settings: Settings, body: BroadcastCreate,
                idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
    """Stores and starts a broadcast (the API's POST and the dashboard's send page): (202, broadcast), or
    (200, broadcast) for a repeat of the same request; raises ApiError."""
    key = idempotency_key or body.idempotency_key or new_idempotency_key()
    fingerprint = request_fingerprint(body.model_dump(mode="json", exclude={"idempotency_key"}))
    broadcast_id = notification_id_for_key(f"broadcast:{key}")
    available = chain_names(settings)
    unavailable = [c.value for c in body.channels if c.value not in available]
    if unavailable:
        raise invalid("channels", f"no provider is configured for channel(s) {', '.join(unavailable)}",
                      code="channel_unavailable")
    template = await templates.get(pool, body.template, body.template_version)
    if template is None:
        raise invalid("template", f"template '{body.template}' does not exist", code="unknown_template")
    render_or_422(template, body.data, _SAMPLE_USER)
    row, created = await broadcasts.insert(pool, broadcasts.NewBroadcast(
        id=broadcast_id, idempotency_key=key, request_hash=fingerprint, workflow_id=f"broadcast-{broadcast_id}",
        template=body.template, template_version=template["version"], data=body.data,
        channels=[c.value for c in body.channels], priority=body.priority.value, category=body.category,
        audience=body.audience.model_dump(exclude_none=True)))
    if not created and row["request_hash"] != fingerprint:
        raise ApiError(409, "idempotency_conflict", "this idempotency key was already used with a different "
                       "request body", {"broadcast_id": row["id"]})
    inp = BroadcastInput(broadcast_id=row["id"], template=row["template"], template_version=row["template_version"],
                         data=row["data"], channels=list(row["channels"]), priority=row["priority"],
                         category=row["category"], retry=dispatch.retry_config(settings),
                         provider_chains={c: len(n) for c, n in available.items() if c in row["channels"]},
                         queued_channels=dispatch.queued_channels(settings, list(row["channels"])),
                         page_size=settings.broadcast_page_size)
    try:
        await temporal.start_workflow(BroadcastWorkflow.run, inp, id=row["workflow_id"], task_queue=settings.task_queue,
                                      id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                      id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                                      priority=task_priority(row["priority"], row["category"]))
    except WorkflowAlreadyStartedError:
        pass
    except (RPCError, RuntimeError) as exc:
        if not dispatch.is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable", "the broadcast is stored but could not be started; repeat "
                       "the request with the same Idempotency-Key", {"broadcast_id": row["id"]}) from exc
    return 202 if created else 200, await _public(pool, row)


@router.get("/{broadcast_id}", response_model=BroadcastPublic)
async def get_broadcast(broadcast_id: str, pool: PoolDep, _: StatusDep) -> dict[str, Any]:
    row = await broadcasts.get(pool, broadcast_id)
    if row is None:
        raise not_found("broadcast", broadcast_id)
    return await _public(pool, row)


@router.post("/{broadcast_id}/cancel", status_code=202, response_model=BroadcastPublic)
async def cancel_broadcast(broadcast_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> dict[str, Any]:
    row = await broadcasts.get(pool, broadcast_id)
    if row is None:
        raise not_found("broadcast", broadcast_id)
    if row["status"] in ("sent", "canceled") or not await dispatch.signal(temporal, row["workflow_id"], "cancel"):
        raise ApiError(409, "already_final", f"the broadcast is already {row['status']}", {"status": row["status"]})
    return await _public(pool, row)
