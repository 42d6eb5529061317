"""The integrations page: the providers configured as data (add, edit with secrets masked, enable or disable,
send a test message) and the environment's, read-only."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import PoolDep, SettingsDep
from api.errors import ApiError
from api.web.auth import AdminPage
from api.web.render import Form, page, parse_json, read_form, see_other
from core.models import Channel
from services import integrations
from services.integrations import Change

router = APIRouter(prefix="/ui/integrations")
HOME = "/ui/integrations"


def _config(form: Form) -> dict[str, Any]:
    try:
        value = parse_json(form.raw("config") or "{}")
    except json.JSONDecodeError as exc:
        raise ApiError(422, "validation_error", f"config: not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ApiError(422, "validation_error", "config: must be a JSON object")
    return value


def _number(form: Form, name: str, kind: type[int] | type[float]) -> Any:
    text = form.get(name)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ApiError(422, "validation_error", f"{name}: not a number") from None


async def _listing(request: Request, pool: PoolDep, settings: SettingsDep, principal: AdminPage,
                   **context: Any) -> HTMLResponse:
    return page(request, "integrations.html", title="Integrations", principal=principal,
                items=await integrations.list_all(pool, settings), providers=integrations.provider_names(),
                channels=[c.value for c in Channel], **context)


@router.get("", response_class=HTMLResponse)
async def listing(request: Request, pool: PoolDep, settings: SettingsDep, principal: AdminPage) -> HTMLResponse:
    return await _listing(request, pool, settings, principal)


@router.post("", response_model=None)
async def add(request: Request, pool: PoolDep, settings: SettingsDep,
              principal: AdminPage) -> HTMLResponse | RedirectResponse:
    form = await read_form(request)
    config: dict[str, Any] = {}
    try:
        config = _config(form)
        created = await integrations.create(
            pool, settings, integration_id=form.get("id"), channel=form.get("channel"),
            provider=form.get("provider"), config=config, priority=_number(form, "priority", int) or 1,
            rate_per_s=_number(form, "rate_per_s", float), active=True)
    except ApiError as exc:
        typed = {"id": form.get("id"), "channel": form.get("channel"), "provider": form.get("provider"),
                 "priority": form.get("priority"), "rate_per_s": form.get("rate_per_s"),
                 "config": json.dumps(integrations.masked(form.get("provider"), config), indent=1)
                 if config else form.raw("config")}
        # 200, as every dashboard form answers a refusal: the page itself is fine, the input is not.
        return await _listing(request, pool, settings, principal, error=f"Not added: {exc.message}", typed=typed)
    return see_other(HOME, f"{created.id}: added.")


@router.get("/{integration_id}", response_class=HTMLResponse)
async def edit_page(integration_id: str, request: Request, pool: PoolDep, settings: SettingsDep,
                    principal: AdminPage) -> HTMLResponse:
    item = await integrations.get(pool, settings, integration_id)
    return page(request, "integration_edit.html", title=f"Integration {item.id}", principal=principal, item=item,
                config=json.dumps(item.config, indent=1))


@router.post("/{integration_id}", response_model=None)
async def edit(integration_id: str, request: Request, pool: PoolDep, settings: SettingsDep,
               principal: AdminPage) -> HTMLResponse | RedirectResponse:
    form = await read_form(request)
    try:
        rate = _number(form, "rate_per_s", float)
        await integrations.update(pool, settings, integration_id, Change(
            config=_config(form), priority=_number(form, "priority", int), rate_per_s=rate,
            clear_rate=rate is None))
    except ApiError as exc:
        item = await integrations.get(pool, settings, integration_id)
        return page(request, "integration_edit.html", title=f"Integration {item.id}",
                    principal=principal, item=item, config=json.dumps(item.config, indent=1),
                    error=f"Not saved: {exc.message}")
    return see_other(HOME, f"{integration_id}: saved.")


async def _switch(integration_id: str, pool: PoolDep, settings: SettingsDep, active: bool) -> RedirectResponse:
    try:
        await integrations.update(pool, settings, integration_id, Change(active=active))
    except ApiError as exc:
        return see_other(HOME, f"{integration_id}: {exc.message}")
    return see_other(HOME, f"{integration_id}: {'enabled' if active else 'disabled'}.")


@router.post("/{integration_id}/enable")
async def enable(integration_id: str, pool: PoolDep, settings: SettingsDep, _: AdminPage) -> RedirectResponse:
    return await _switch(integration_id, pool, settings, True)


@router.post("/{integration_id}/disable")
async def disable(integration_id: str, pool: PoolDep, settings: SettingsDep, _: AdminPage) -> RedirectResponse:
    return await _switch(integration_id, pool, settings, False)


@router.post("/{integration_id}/delete")
async def delete(integration_id: str, pool: PoolDep, settings: SettingsDep, _: AdminPage) -> RedirectResponse:
    try:
        await integrations.delete(pool, settings, integration_id)
    except ApiError as exc:
        return see_other(HOME, f"{integration_id}: {exc.message}")
    return see_other(HOME, f"{integration_id}: deleted.")


@router.post("/{integration_id}/test")
async def test(integration_id: str, request: Request, pool: PoolDep, settings: SettingsDep,
               _: AdminPage) -> RedirectResponse:
    to = (await read_form(request)).get("to")
    try:
        result = await integrations.test(pool, settings, integration_id, to)
    except ApiError as exc:
        return see_other(HOME, f"{integration_id}: {exc.message}")
    if result.ok:
        return see_other(HOME, f"{integration_id}: test message sent (provider message id "
                               f"{result.provider_message_id}).")
    return see_other(HOME, f"{integration_id}: test message refused: {result.error}")
