"""Templates: named, versioned Jinja2; old versions stay readable."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep, SettingsDep
from api.errors import ApiError, invalid, not_found
from api.schemas import (
    MAX_INT4,
    Page,
    PreviewPublic,
    PreviewRequest,
    TemplateCreate,
    TemplateLocalePublic,
    TemplateLocalePut,
    TemplateLocales,
    TemplatePublic,
    TemplateUpdate,
)
from core import locales, templating
from services.rendering import render_or_422
from store import templates, users

router = APIRouter(prefix="/v1/templates", tags=["templates"])


async def public(row: dict[str, Any]) -> TemplatePublic:
    names = await templating.in_render_thread(templating.variables, row["subject"], row["body"], row["html"])
    return TemplatePublic(**{**row, "locales": sorted(row.get("locales") or {})}, variables=names)


async def check_sources(subject: str | None, body: str, html: str | None) -> None:
    """422 naming the field and line of a syntax error. Parsing runs in a render thread: a 200 KB template takes
    a noticeable while."""
    await templating.in_render_thread(_check_sources, subject, body, html)


def _check_sources(subject: str | None, body: str, html: str | None) -> None:
    try:
        if subject:
            templating.check_syntax(subject, "subject")
        templating.check_syntax(body, "body")
        if html:
            templating.check_syntax(html, "html")
    except templating.TemplateError as exc:
        raise invalid(exc.field, exc.message, code="template_syntax_error", line=exc.line) from exc


@router.post("", status_code=201, response_model=TemplatePublic)
async def create_template(body: TemplateCreate, pool: PoolDep, _: AdminDep) -> TemplatePublic:
    return await create(pool, body)


async def create(pool: asyncpg.Pool, body: TemplateCreate) -> TemplatePublic:
    """Version 1 of a new template (the API's POST and the dashboard's form); 422 on a syntax error."""
    await check_sources(body.subject, body.body, body.html)
    async with pool.acquire() as conn:
        row = await templates.create(conn, body.name, body.subject, body.body, body.description, body.html)
    if row is None:
        raise ApiError(409, "template_exists", f"a template named '{body.name}' already exists; "
                       "PUT /v1/templates/{name} adds a version")
    return await public(row)


@router.put("/{name}", response_model=TemplatePublic)
async def update_template(name: str, body: TemplateUpdate, pool: PoolDep, _: AdminDep) -> TemplatePublic:
    return await update(pool, name, body)


async def update(pool: asyncpg.Pool, name: str, body: TemplateUpdate) -> TemplatePublic:
    """The next version of a template; 422 on a syntax error, 404 for an unknown (or deleted) name."""
    if body.name is not None and body.name != name:
        raise invalid("name", f"the body names '{body.name}' but the path names '{name}'")
    await check_sources(body.subject, body.body, body.html)
    async with pool.acquire() as conn:
        row = await templates.add_version(conn, name, body.subject, body.body, body.description, body.html)
    if row is None:
        raise not_found("template", name)
    return await public(row)


@router.get("", response_model=Page[TemplatePublic])
async def list_templates(pool: PoolDep, page: PageDep, _: ReadDep) -> Page[TemplatePublic]:
    after = page.decode(str)
    rows = await templates.list_latest(pool, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r["name"]])
    return Page(items=[await public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{name}", response_model=TemplatePublic)
async def get_template(name: str, pool: PoolDep, _: ReadDep,
                       version: Annotated[int | None, Query(ge=1, le=MAX_INT4)] = None) -> TemplatePublic:
    row = await templates.get(pool, name, version)
    if row is None:
        raise not_found("template", f"{name}" + (f"' version '{version}" if version else ""))
    return await public(row)


@router.delete("/{name}", status_code=204)
async def delete_template(name: str, pool: PoolDep, _: AdminDep) -> Response:
    if not await templates.delete(pool, name):
        raise not_found("template", name)
    return Response(status_code=204)


def _tag(locale: str) -> str:
    """The path's locale tag in its usual spelling; 422 when it is none."""
    try:
        return locales.canonical(locale)
    except locales.LocaleTagError as exc:
        raise invalid("locale", str(exc), code="invalid_locale") from exc


@router.put("/{name}/locales/{locale}", response_model=TemplatePublic)
async def put_locale(name: str, locale: str, body: TemplateLocalePut, pool: PoolDep, _: AdminDep) -> TemplatePublic:
    """Adds or replaces one translation: a new version, so notifications pinned to older ones keep theirs."""
    tag = _tag(locale)
    await check_sources(body.subject, body.body, body.html)
    async with pool.acquire() as conn:
        row = await templates.put_locale(conn, name, tag, body.subject, body.body, body.html)
    if row is None:
        raise not_found("template", name)
    return await public(row)


@router.get("/{name}/locales", response_model=TemplateLocales)
async def list_locales(name: str, pool: PoolDep, _: ReadDep) -> TemplateLocales:
    row = await templates.get(pool, name)
    if row is None:
        raise not_found("template", name)
    items = [TemplateLocalePublic(locale=tag, subject=text.get("subject"), body=text["body"], html=text.get("html"))
             for tag, text in sorted((row["locales"] or {}).items())]
    return TemplateLocales(name=name, version=row["version"], items=items)


@router.delete("/{name}/locales/{locale}", status_code=204)
async def delete_locale(name: str, locale: str, pool: PoolDep, _: AdminDep) -> Response:
    """Removes one translation: a new version without it."""
    tag = _tag(locale)
    async with pool.acquire() as conn:
        done = await templates.delete_locale(conn, name, tag)
    if done is None:
        raise not_found("template", name)
    if not done:
        raise not_found("template locale", f"{name}' locale '{tag}")
    return Response(status_code=204)


@router.post("/{name}/preview", response_model=PreviewPublic)
async def preview_template(name: str, body: PreviewRequest, pool: PoolDep, settings: SettingsDep, _: ReadDep,
                           version: Annotated[int | None, Query(ge=1, le=MAX_INT4)] = None) -> PreviewPublic:
    row = await templates.get(pool, name, version)
    if row is None:
        raise not_found("template", name)
    user = None
    if body.user_id is not None:
        user = await users.get(pool, body.user_id)
        if user is None:
            raise invalid("user_id", f"user '{body.user_id}' does not exist", code="unknown_user")
    rendered = await render_or_422(row, body.data, user, body.locale, settings.default_locale)
    return PreviewPublic(subject=rendered.subject, body=rendered.body, html=rendered.html)
