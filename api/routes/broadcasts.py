"""Broadcasts: one message to many users, fanned out by a BroadcastWorkflow; progress from the read model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api.deps import AdminDep, AnnouncerDep, PoolDep, SendDep, SettingsDep, StatusDep, TemporalDep
from api.schemas import BroadcastCreate, BroadcastPublic
from services import broadcasts
from services.broadcasts import BroadcastProgress

router = APIRouter(prefix="/v1/broadcasts", tags=["broadcasts"])


def _public(progress: BroadcastProgress) -> BroadcastPublic:
    b = progress.broadcast
    return BroadcastPublic(id=b.id, workflow_id=b.workflow_id, status=b.status, recipients=b.recipients,
                           counts=progress.counts)


@router.post("", status_code=202, response_model=BroadcastPublic,
             responses={200: {"model": BroadcastPublic, "description": "repeat of an accepted request"}})
async def create_broadcast(body: BroadcastCreate, pool: PoolDep, settings: SettingsDep, principal: SendDep,
                           starts: AnnouncerDep,
                           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]
                           = None) -> JSONResponse:
    progress, created = await broadcasts.create(pool, settings, body.model_dump(mode="json"), idempotency_key,
                                                key_id=principal.key)
    if created:
        starts.poke()
    return JSONResponse(_public(progress).model_dump(mode="json"), status_code=202 if created else 200)


@router.get("/{broadcast_id}", response_model=BroadcastPublic)
async def get_broadcast(broadcast_id: str, pool: PoolDep, principal: StatusDep) -> BroadcastPublic:
    return _public(await broadcasts.get(pool, broadcast_id, key_id=principal.key, sees_all=principal.sees_all))


@router.post("/{broadcast_id}/cancel", status_code=202, response_model=BroadcastPublic)
async def cancel_broadcast(broadcast_id: str, pool: PoolDep, temporal: TemporalDep, _: AdminDep) -> BroadcastPublic:
    return _public(await broadcasts.cancel(pool, temporal, broadcast_id))
