"""Templates: list, create, edit (a new version each save) with a live preview, and version history."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from api.deps import PoolDep, Principal
from api.schemas import MAX_INT4, TemplateCreate, TemplateUpdate
from api.web.auth import AdminPage
from api.web.render import Form, page, parse_json, read_form, see_other, whole_number
from core import templating
from core.errors import Problem
from core.locales import Texts
from core.recipients import SampleUser
from services import template_parts, templates
from services.rendering import render_or_422

router = APIRouter(prefix="/ui/templates")
PAGE_SIZE = 100


@router.get("", response_class=HTMLResponse)
async def list_templates(request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    after = request.query_params.get("after") or None
    rows = await templates.list_latest(pool, after, PAGE_SIZE + 1)
    next_url = f"/ui/templates?after={quote(rows[PAGE_SIZE - 1].name)}" if len(rows) > PAGE_SIZE else None
    return page(request, "templates.html", title="Templates", principal=principal, items=rows[:PAGE_SIZE],
                next_url=next_url)


def _fields(form: Form) -> dict[str, Any]:
    return {"subject": form.optional("subject"), "body": form.get("body"), "html": form.optional("html"),
            "description": form.optional("description")}


def _problems(exc: Problem | ValidationError) -> list[dict[str, Any]]:
    if isinstance(exc, ValidationError):
        return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    return list(exc.details or [{"field": "template", "message": exc.message}])


async def _editor(request: Request, principal: Principal, *, name: str, fields: dict[str, Any], new: bool,
            problems: list[dict[str, Any]] | None = None, history: list[templates.VersionRecord] | None = None,
            viewing: int | None = None, latest: int | None = None) -> HTMLResponse:
    return page(request, "template_edit.html", title=("New template" if new else f"Template {name}"),
                principal=principal, name=name, t=fields, new=new, problems=problems or [],
                history=history or [], viewing=viewing, latest=latest,
                sample=json.dumps({v: "" for v in await _variables(fields) if v != "user"}, indent=2))


async def _variables(fields: dict[str, Any]) -> list[str]:
    try:
        return await templating.in_render_thread(templating.variables, fields.get("subject"), fields.get("body"),
                                                 fields.get("html"))
    except TemplateSyntaxError:  # the live check names it, at its line
        return []


@router.get("/new", response_class=HTMLResponse)
async def new_template(request: Request, principal: AdminPage) -> HTMLResponse:
    return await _editor(request, principal, name="", new=True,
                   fields={"subject": "", "body": "", "html": "", "description": ""})


@router.post("", response_class=HTMLResponse, response_model=None)
async def create_template(request: Request, pool: PoolDep, principal: AdminPage) -> Response:
    form = await read_form(request)
    fields = _fields(form)
    try:
        body = TemplateCreate(name=form.get("name"), **fields)
        created = await templates.create(pool, body.name, body.subject, body.body, body.description, body.html)
    except (Problem, ValidationError) as exc:
        # The form comes back with the problems named (and the line marked); 200 so it is a page, not an error.
        return await _editor(request, principal, name=form.get("name"), fields=fields, new=True,
                             problems=_problems(exc))
    return see_other(f"/ui/templates/{quote(created.name)}", f"Template {created.name} created (version 1).")


@router.post("/check", response_class=HTMLResponse)
async def check(request: Request, pool: PoolDep, _: AdminPage) -> HTMLResponse:
    """The live preview: syntax errors at their line, else the message rendered with the sample data."""
    form = await read_form(request)
    fields = _fields(form)
    problems: list[dict[str, Any]] = []
    rendered = None
    try:
        await templates.check_sources(fields["subject"], fields["body"] or " ", fields["html"])
        data = parse_json(form.get("data") or "{}")
        if not isinstance(data, dict):
            raise ValueError("the sample data must be a JSON object")
        sources = {k: fields[k] for k in ("subject", "body", "html")}
        found = await templating.in_render_thread(template_parts.included_names, sources)
        composition = await template_parts.latest_for(pool, form.get("name") or "", None,
                                                      sorted({n for names in found.values() for n in names}))
        rendered = await render_or_422(Texts(fields["subject"], fields["body"] or "", fields["html"]), data,
                                       SampleUser(id="sample", name="Sample User"), composition=composition)
    except Problem as exc:
        problems = _problems(exc)
    except ValueError as exc:
        problems = [{"field": "data", "message": f"sample data: {exc}"}]
    return page(request, "template_check.html", t=fields, problems=problems, rendered=rendered,
                variables=await _variables(fields))


@router.get("/{name}", response_class=HTMLResponse)
async def edit_template(name: str, request: Request, pool: PoolDep, principal: AdminPage) -> HTMLResponse:
    version = request.query_params.get("version", "")
    row = await templates.find(pool, name, whole_number(version, MAX_INT4))
    if row is None:
        return page(request, "not_found.html", status_code=404, title="Not found", principal=principal,
                    what=f"template {name}" + (f" version {version}" if version else ""))
    fields = {"subject": row.subject, "body": row.body, "html": row.html, "description": row.description}
    return await _editor(request, principal, name=name, fields=fields, new=False,
                         history=await templates.history(pool, name), viewing=row.version,
                         latest=row.latest_version)


@router.post("/{name}", response_class=HTMLResponse, response_model=None)
async def save_template(name: str, request: Request, pool: PoolDep, principal: AdminPage) -> Response:
    fields = _fields(await read_form(request))
    try:
        body = TemplateUpdate(**fields)
        current = await templates.find(pool, name)  # the editor has no layout field: the version keeps its own
        saved = await templates.update(pool, name, body.subject, body.body, body.description, body.html,
                                       named=body.name, layout=current.layout if current else None)
    except (Problem, ValidationError) as exc:
        return await _editor(request, principal, name=name, fields=fields, new=False, problems=_problems(exc),
                             history=await templates.history(pool, name))
    return see_other(f"/ui/templates/{quote(name)}", f"Saved as version {saved.version}.")
