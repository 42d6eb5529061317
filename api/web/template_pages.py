"""Templates: list, create, edit (a new version each save) with a live preview, version history, and each
translation edited next to the template's own text."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import TemplateSyntaxError
from pydantic import ValidationError

from api.deps import PoolDep, Principal, SettingsDep
from api.schemas import MAX_INT4, TemplateCreate, TemplateLocalePut, TemplateUpdate
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
            viewing: int | None = None, latest: int | None = None,
            locales: dict[str, Any] | None = None) -> HTMLResponse:
    return page(request, "template_edit.html", title=("New template" if new else f"Template {name}"),
                principal=principal, name=name, t=fields, new=new, problems=problems or [],
                history=history or [], viewing=viewing, latest=latest, locales=locales,
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
                         latest=row.latest_version, locales=await _switcher(pool, row))


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


# -- translations: one locale's texts edited next to the template's own, previewed side by side --

@router.get("/{name}/locales", response_model=None)
async def go_to_locale(name: str, request: Request, principal: AdminPage) -> Response:
    """The switcher's "add a locale" form: to that locale's editor, its tag in its usual spelling."""
    tag = request.query_params.get("tag", "")
    try:
        canonical = templates.locale_tag(tag)
    except Problem as exc:
        return see_other(f"/ui/templates/{quote(name)}", f"No locale opened: {exc.message}")
    return see_other(f"/ui/templates/{quote(name)}/locales/{quote(canonical)}")


async def _switcher(pool: PoolDep, row: templates.TemplateRecord) -> dict[str, Any]:
    """The template's locales, and those other templates have that it lacks (shown as missing)."""
    present = sorted(row.locales or {})
    missing = [tag for tag in await templates.locales_in_use(pool) if tag not in present]
    return {"present": present, "missing": missing}


async def _locale_editor(request: Request, pool: PoolDep, principal: Principal, row: templates.TemplateRecord,
                         tag: str, fields: dict[str, Any], problems: list[dict[str, Any]] | None = None
                         ) -> HTMLResponse:
    own = {"subject": row.subject, "body": row.body, "html": row.html}
    return page(request, "template_locale.html", title=f"Template {row.name} in {tag}", principal=principal,
                name=row.name, tag=tag, t=fields, own=own, problems=problems or [],
                locales=await _switcher(pool, row), exists=tag in (row.locales or {}),
                sample=json.dumps({v: "" for v in await _variables(own) if v != "user"}, indent=2))


async def _template_and_tag(pool: PoolDep, name: str, locale: str) -> tuple[templates.TemplateRecord, str] | None:
    row = await templates.find(pool, name)
    try:
        return (row, templates.locale_tag(locale)) if row is not None else None
    except Problem:
        return None


@router.get("/{name}/locales/{locale}", response_class=HTMLResponse)
async def edit_locale(name: str, locale: str, request: Request, pool: PoolDep,
                      principal: AdminPage) -> HTMLResponse:
    found = await _template_and_tag(pool, name, locale)
    if found is None:
        return page(request, "not_found.html", status_code=404, title="Not found", principal=principal,
                    what=f"template {name} locale {locale}")
    row, tag = found
    text = (row.locales or {}).get(tag, {})
    fields = {"subject": text.get("subject"), "body": text.get("body", ""), "html": text.get("html")}
    return await _locale_editor(request, pool, principal, row, tag, fields)


@router.post("/{name}/locales/{locale}", response_class=HTMLResponse, response_model=None)
async def save_locale(name: str, locale: str, request: Request, pool: PoolDep, principal: AdminPage) -> Response:
    found = await _template_and_tag(pool, name, locale)
    if found is None:
        return page(request, "not_found.html", status_code=404, title="Not found", principal=principal,
                    what=f"template {name} locale {locale}")
    row, tag = found
    fields = _fields(await read_form(request))
    try:
        body = TemplateLocalePut(subject=fields["subject"], body=fields["body"], html=fields["html"])
        saved = await templates.put_locale(pool, name, tag, body.subject, body.body, body.html)
    except (Problem, ValidationError) as exc:
        return await _locale_editor(request, pool, principal, row, tag, fields, _problems(exc))
    return see_other(f"/ui/templates/{quote(name)}/locales/{quote(tag)}",
                     f"Saved {tag} as version {saved.version}.")


@router.post("/{name}/locales/{locale}/compare", response_class=HTMLResponse)
async def compare(name: str, locale: str, request: Request, pool: PoolDep, settings: SettingsDep,
                  _: AdminPage) -> HTMLResponse:
    """The live side-by-side preview: the template's own text and the form's translation, each rendered with
    the sample data and formatted in its own locale."""
    form = await read_form(request)
    found = await _template_and_tag(pool, name, locale)
    sides: list[dict[str, Any]] = []
    if found is not None:
        row, tag = found
        fields = _fields(form)
        own = Texts(row.subject, row.body, row.html)
        translated = Texts(row.subject, row.body, row.html, locales={tag: {
            "subject": fields["subject"], "body": fields["body"], "html": fields["html"]}})
        try:
            composition = await template_parts.latest(pool, row)
        except Problem as exc:
            return page(request, "template_compare.html", sides=[{"label": name, "problems": _problems(exc)}])
        for label, texts, asked in ((settings.default_locale, own, None), (tag, translated, tag)):
            sides.append(await _side(label, texts, asked, form.get("data") or "{}", settings.default_locale,
                                     composition))
    return page(request, "template_compare.html", sides=sides)


async def _side(label: str, texts: Texts, locale: str | None, data_json: str, default_locale: str,
                composition: template_parts.Composition | None) -> dict[str, Any]:
    try:
        data = parse_json(data_json)
        if not isinstance(data, dict):
            raise ValueError("the sample data must be a JSON object")
        rendered = await render_or_422(texts, data, SampleUser(id="sample", name="Sample User"), locale,
                                       default_locale, composition)
    except Problem as exc:
        return {"label": label, "problems": _problems(exc)}
    except ValueError as exc:
        return {"label": label, "problems": [{"field": "data", "message": f"sample data: {exc}"}]}
    return {"label": label, "rendered": rendered, "problems": []}
