"""Send: a template, its variables, data, recipients (users, a topic or everyone), channels, priority and an
optional send time; a preview before sending. Sends go through the same accept and broadcast paths as the API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.accepting import accept_many
from api.deps import AnnouncerDep, PoolDep, Principal, SettingsDep
from api.errors import ApiError
from api.schemas import BroadcastCreate, NotificationCreate
from api.web.auth import AdminPage
from api.web.render import Form, page, parse_json, read_form, see_other
from core import templating
from core.models import Priority
from core.recipients import SampleUser
from core.settings import Settings
from providers.registry import chain_names
from services import broadcasts as broadcast_service
from services import template_parts, templates, users
from services.accept import Accepted, Caller
from services.rendering import render_or_422
from services.start_announcer import StartAnnouncer
from store.notifications import NotificationRecord
from store.templates import TemplateRecord

router = APIRouter(prefix="/ui/send")
MAX_USERS = 100


def _choices(settings: Settings) -> dict[str, Any]:
    return {"channels": sorted(chain_names(settings)), "priorities": [p.value for p in Priority]}


async def _form_page(request: Request, pool: asyncpg.Pool, settings: Settings, principal: Principal,
                     values: dict[str, Any],
                     error: str | None = None) -> HTMLResponse:
    names = [t.name for t in await templates.list_latest(pool, None, 500)]
    chosen = await templates.find(pool, values["template"]) if values["template"] else None
    return page(request, "send.html", title="Send", principal=principal, templates=names, v=values, error=error,
                template=chosen, names=await _variables(chosen), data=values["data"], **_choices(settings))


async def _variables(template: TemplateRecord | None) -> list[str]:
    if template is None:
        return []
    return await templating.in_render_thread(templating.variables, template.subject, template.body,
                                             template.html)


@router.get("", response_class=HTMLResponse)
async def send_form(request: Request, pool: PoolDep, settings: SettingsDep, principal: AdminPage) -> HTMLResponse:
    chosen = await templates.find(pool, request.query_params.get("template", ""))
    values = {"template": chosen.name if chosen else "", "audience": "users", "channels": ["in_app"],
              "priority": "transactional", "key": uuid.uuid4().hex,
              "data": json.dumps({n: "" for n in await _variables(chosen) if n != "user"}, indent=2)}
    return await _form_page(request, pool, settings, principal, values)


@router.get("/variables", response_class=HTMLResponse)
async def variables(request: Request, pool: PoolDep, _: AdminPage) -> HTMLResponse:
    """The chosen template's variables and a data skeleton to fill (`user` comes from each recipient)."""
    row = await templates.find(pool, request.query_params.get("template", ""))
    names = await _variables(row)
    skeleton = json.dumps({n: "" for n in names if n != "user"}, indent=2)
    return page(request, "send_variables.html", template=row, names=names, data=skeleton)


def _values(form: Form) -> dict[str, Any]:
    return {"template": form.get("template"), "data": form.get("data") or "{}", "audience": form.get("audience"),
            "user_ids": form.getlist("user_ids"), "topic": form.get("topic"), "channels": form.getlist("channels"),
            "priority": form.get("priority") or "transactional", "category": form.optional("category"),
            "send_at": form.get("send_at"), "key": form.get("key") or uuid.uuid4().hex}


def _data(values: dict[str, Any]) -> dict[str, Any]:
    try:
        data = parse_json(values["data"])
    except ValueError as exc:
        raise ApiError(422, "validation_error", f"data: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ApiError(422, "validation_error", "data: must be a JSON object")
    return data


def _send_at(values: dict[str, Any]) -> datetime | None:
    if not values["send_at"]:
        return None
    try:
        # The form's datetime-local has no zone: the page says it is UTC.
        return datetime.fromisoformat(values["send_at"]).replace(tzinfo=UTC)
    except ValueError as exc:
        message = "send_at: give a date and time such as 2026-12-01T09:30 (UTC)"
        raise ApiError(422, "validation_error", message, [{"field": "send_at", "message": message}]) from exc


@router.post("/preview", response_class=HTMLResponse)
async def preview(request: Request, pool: PoolDep, _: AdminPage) -> HTMLResponse:
    values = _values(await read_form(request))
    try:
        row = await templates.find(pool, values["template"])
        if row is None:
            raise ApiError(422, "unknown_template", "choose a template first")
        user = await users.find(pool, values["user_ids"][0]) if values["user_ids"] else None
        rendered = await render_or_422(row, _data(values), user or SampleUser(id="sample", name="Sample User"),
                                       composition=await template_parts.latest(pool, row))
    except ApiError as exc:
        return page(request, "send_preview.html", problem=exc.message)
    return page(request, "send_preview.html", rendered=rendered,
                recipient=user.name if user else "a sample user (pick users to preview as one of them)")


@router.post("", response_class=HTMLResponse, response_model=None)
async def send(request: Request, pool: PoolDep, settings: SettingsDep, principal: AdminPage,
               starts: AnnouncerDep) -> Response:
    values = _values(await read_form(request))
    try:
        target = await _send(pool, settings, values, principal, starts)
    except ApiError as exc:
        details = exc.details if isinstance(exc.details, list) else []
        fields = ", ".join(str(d.get("field")) for d in details if isinstance(d, dict) and d.get("field"))
        return await _form_page(request, pool, settings, principal, values,
                                error=f"Not sent: {exc.message}" + (f" ({fields})" if fields else ""))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return await _form_page(request, pool, settings, principal, values, error=f"Not sent: {problems}")
    path, notice, params = target
    return see_other(path, notice, **params)


async def _send(pool: asyncpg.Pool, settings: Settings, values: dict[str, Any],
                principal: Principal, starts: StartAnnouncer) -> tuple[str, str, dict[str, str]]:
    data = _data(values)
    common = {"template": values["template"], "data": data, "channels": values["channels"],
              "priority": values["priority"], "category": values["category"]}
    if values["audience"] in ("topic", "all"):
        if values["send_at"]:
            raise ApiError(422, "validation_error", "a send time applies to chosen users; a broadcast goes now")
        audience = {"topic": values["topic"]} if values["audience"] == "topic" else {"all": True}
        body = BroadcastCreate.model_validate({**common, "audience": audience})
        started, created = await broadcast_service.create(pool, settings, body.model_dump(mode="json"),
                                                          f"ui:{values['key']}", key_id=principal.key)
        if created:
            starts.poke()
        return "/ui/notifications", f"Broadcast {started.broadcast.id} started.", {}
    chosen = values["user_ids"]
    if not chosen:
        raise ApiError(422, "validation_error", "pick at least one user (search by id, name or email)")
    if len(chosen) > MAX_USERS:
        raise ApiError(422, "validation_error", f"at most {MAX_USERS} users at once; use a topic for more")
    requests = [NotificationCreate.model_validate({**common, "user_id": u, "send_at": _send_at(values)})
                for u in chosen]
    caller = Caller(key=principal.key, is_admin=principal.is_admin)
    # One key per form and user: submitting the same form twice sends nothing twice.
    outcomes = await accept_many(pool, settings, [(request, f"ui:{values['key']}:{user_id}")
                                                  for user_id, request in zip(chosen, requests, strict=True)],
                                 caller, starts)
    sent: list[NotificationRecord] = []
    refused: list[tuple[str, ApiError]] = []
    for user_id, outcome in zip(chosen, outcomes, strict=True):
        if isinstance(outcome, Accepted):
            sent.append(outcome.notification)
        elif isinstance(outcome, ApiError):
            refused.append((user_id, outcome))
        else:
            raise outcome
    if refused and not sent:
        raise refused[0][1]
    if refused:
        names = ", ".join(user_id for user_id, _ in refused[:5]) + (" …" if len(refused) > 5 else "")
        return "/ui/notifications", (f"Sent {len(sent)} notification(s); not sent to {len(refused)} "
                                     f"user(s) ({names}): {refused[0][1].message}"), {}
    return "/ui/notifications", f"Sent {len(sent)} notification(s).", \
        {"user_id": chosen[0]} if len(chosen) == 1 else {}
