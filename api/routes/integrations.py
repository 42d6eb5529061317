"""Integrations: the providers a team already uses, configured as data; the environment's shown read-only."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Response

from api.deps import AdminDep, PoolDep, ReadDep, SettingsDep
from api.schemas import (
    IntegrationCreate,
    IntegrationPatch,
    IntegrationPublic,
    IntegrationTestPublic,
    IntegrationTestRequest,
)
from services import integrations
from services.integrations import Change

router = APIRouter(prefix="/v1/integrations", tags=["integrations"])


@router.post("", status_code=201, response_model=IntegrationPublic)
async def create_integration(body: IntegrationCreate, pool: PoolDep, settings: SettingsDep,
                             _: AdminDep) -> IntegrationPublic:
    created = await integrations.create(
        pool, settings, integration_id=body.id, channel=body.channel.value, provider=body.provider,
        config=body.config, priority=body.priority, rate_per_s=body.rate_per_s, active=body.active)
    return IntegrationPublic(**asdict(created))


@router.get("", response_model=list[IntegrationPublic])
async def list_integrations(pool: PoolDep, settings: SettingsDep, _: ReadDep) -> list[IntegrationPublic]:
    return [IntegrationPublic(**asdict(i)) for i in await integrations.list_all(pool, settings)]


@router.get("/{integration_id}", response_model=IntegrationPublic)
async def get_integration(integration_id: str, pool: PoolDep, settings: SettingsDep,
                          _: ReadDep) -> IntegrationPublic:
    return IntegrationPublic(**asdict(await integrations.get(pool, settings, integration_id)))


@router.patch("/{integration_id}", response_model=IntegrationPublic)
async def update_integration(integration_id: str, body: IntegrationPatch, pool: PoolDep, settings: SettingsDep,
                             _: AdminDep) -> IntegrationPublic:
    """An environment provider cannot be changed here: 409 `read_only_integration`."""
    change = Change(config=body.config, priority=body.priority, rate_per_s=body.rate_per_s,
                    clear_rate="rate_per_s" in body.model_fields_set and body.rate_per_s is None,
                    active=body.active)
    return IntegrationPublic(**asdict(await integrations.update(pool, settings, integration_id, change)))


@router.delete("/{integration_id}", status_code=204)
async def delete_integration(integration_id: str, pool: PoolDep, settings: SettingsDep, _: AdminDep) -> Response:
    await integrations.delete(pool, settings, integration_id)
    return Response(status_code=204)


@router.post("/{integration_id}/test", response_model=IntegrationTestPublic)
async def test_integration(integration_id: str, body: IntegrationTestRequest, pool: PoolDep,
                           settings: SettingsDep, _: AdminDep) -> IntegrationTestPublic:
    """One real send of a short message to `to`; `ok` false with the provider's error when it refused."""
    return IntegrationTestPublic(**asdict(await integrations.test(pool, settings, integration_id, body.to)))
