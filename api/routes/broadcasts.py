"""Broadcasts: one message to many users, fanned out by a BroadcastWorkflow; progress from the read model."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.service import RPCError

from api import dispatch
from api.deps import AdminDep, PoolDep, SendDep, SettingsDep, StatusDep, TemporalDep
from api.errors import ApiError, invalid, not_found
from api.schemas import BroadcastCreate, BroadcastPublic
from core import broadcasting
from core.broadcasting import BroadcastRefused, BroadcastSpec
from core.ids import client_key, new_idempotency_key, notification_id_for_key, request_fingerprint
from core.settings import Settings
from store import broadcasts
from store.templates import TemplateRecord

router = APIRouter(prefix="/v1/broadcasts", tags=["broadcasts"])


async def _public(pool: Any, row: dict[str, Any]) -> dict[str, Any]:
    return BroadcastPublic(id=row["id"], workflow_id=row["workflow_id"], status=row["status"],
                           recipients=row["recipients"], counts=await broadcasts.counts(pool, row["id"])
                           ).model_dump(mode="json")


@router.post("", status_code=202, response_model=BroadcastPublic,
             responses={200: {"model": BroadcastPublic, "description": "repeat of an accepted request"}})
async def create_broadcast(body: BroadcastCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep,
                           principal: SendDep,
                           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
                           = None) -> JSONResponse:
    status, broadcast = await start(pool, temporal, settings, body, idempotency_key, key_id=principal.key)
    return JSONResponse(broadcast, status_code=status)


async def start(pool: asyncpg.Pool, temporal: Client, settings: Settings, body: BroadcastCreate,
                idempotency_key: str | None, *, key_id: str) -> tuple[int, dict[str, Any]]:
    """Stores and starts a broadcast (the API's POST and the dashboard's send page): (202, broadcast), or
    (200, broadcast) for a repeat of the same request; raises ApiError. The idempotency key is scoped to the
    calling API key, `key_id`."""
    key = client_key(key_id, idempotency_key or body.idempotency_key or new_idempotency_key())
    # A field added later and left out changes no fingerprint: a repeat of an older request still matches.
    unset = {"locale"} if body.locale is None else set()
    fingerprint = request_fingerprint(body.model_dump(mode="json", exclude={"idempotency_key"} | unset))
    spec = BroadcastSpec(template=body.template, template_version=body.template_version, data=body.data,
                         channels=[c.value for c in body.channels], priority=body.priority.value,
                         category=body.category, audience=body.audience.model_dump(exclude_none=True),
                         locale=body.locale)
    template = await check_or_422(pool, settings, spec)
    row, created = await broadcasting.store(pool, spec, template, broadcast_id=notification_id_for_key(
        f"broadcast:{key}"), key=key, fingerprint=fingerprint, created_by=key_id)
    if not created and row["request_hash"] != fingerprint:
        raise ApiError(409, "idempotency_conflict", "this idempotency key was already used with a different "
                       "request body", {"broadcast_id": row["id"]})
    try:
        await broadcasting.start(temporal, settings, row)
    except (RPCError, RuntimeError) as exc:
        if not dispatch.is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable", "the broadcast is stored but could not be started; repeat "
                       "the request with the same Idempotency-Key", {"broadcast_id": row["id"]}) from exc
    return 202 if created else 200, await _public(pool, row)


async def check_or_422(pool: asyncpg.Pool, settings: Settings, spec: BroadcastSpec) -> TemplateRecord:
    """`core.broadcasting.check`, its refusal answered as 422; returns the template's row."""
    try:
        return await broadcasting.check(pool, settings, spec)
    except BroadcastRefused as exc:
        raise invalid(exc.field, exc.message, code=exc.code, **exc.extra) from exc


@router.get("/{broadcast_id}", response_model=BroadcastPublic)
async def get_broadcast(broadcast_id: str, pool: PoolDep, principal: StatusDep) -> dict[str, Any]:
    row = await broadcasts.get(pool, broadcast_id)
    if row is None or not (principal.sees_all or row["created_by"] == principal.key):
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
