"""Templates: named, versioned Jinja2; old versions stay readable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import AdminDep, PageDep, PoolDep, ReadDep, SettingsDep
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
from services import template_parts, templates
from services.rendering import render_or_422

router = APIRouter(prefix="/v1/templates", tags=["templates"])


async def public(row: templates.TemplateRecord) -> TemplatePublic:
    return TemplatePublic(name=row.name, version=row.version, latest_version=row.latest_version,
                          subject=row.subject, body=row.body, html=row.html, description=row.description,
                          created_at=row.created_at, updated_at=row.updated_at, locales=sorted(row.locales or {}),
                          variables=await templates.variables(row), layout=row.layout, includes=row.includes)


@router.post("", status_code=201, response_model=TemplatePublic)
async def create_template(body: TemplateCreate, pool: PoolDep, _: AdminDep) -> TemplatePublic:
    return await public(await templates.create(pool, body.name, body.subject, body.body, body.description,
                                               body.html, body.layout))


@router.put("/{name}", response_model=TemplatePublic)
async def update_template(name: str, body: TemplateUpdate, pool: PoolDep, _: AdminDep) -> TemplatePublic:
    return await public(await templates.update(pool, name, body.subject, body.body, body.description, body.html,
                                               named=body.name, layout=body.layout))


@router.get("", response_model=Page[TemplatePublic])
async def list_templates(pool: PoolDep, page: PageDep, _: ReadDep) -> Page[TemplatePublic]:
    after = page.decode(str)
    rows = await templates.list_latest(pool, after[0] if after else None, page.fetch)
    rows, next_cursor = page.cut(rows, lambda r: [r.name])
    return Page(items=[await public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{name}", response_model=TemplatePublic)
async def get_template(name: str, pool: PoolDep, _: ReadDep,
                       version: Annotated[int | None, Query(ge=1, le=MAX_INT4)] = None) -> TemplatePublic:
    return await public(await templates.get(pool, name, version))


@router.delete("/{name}", status_code=204)
async def delete_template(name: str, pool: PoolDep, _: AdminDep) -> Response:
    await templates.delete(pool, name)
    return Response(status_code=204)


@router.put("/{name}/locales/{locale}", response_model=TemplatePublic)
async def put_locale(name: str, locale: str, body: TemplateLocalePut, pool: PoolDep, _: AdminDep) -> TemplatePublic:
    """Adds or replaces one translation: a new version, so notifications pinned to older ones keep theirs."""
    return await public(await templates.put_locale(pool, name, locale, body.subject, body.body, body.html))


@router.get("/{name}/locales", response_model=TemplateLocales)
async def list_locales(name: str, pool: PoolDep, _: ReadDep) -> TemplateLocales:
    row = await templates.get(pool, name)
    items = [TemplateLocalePublic(locale=tag, subject=text.get("subject"), body=text["body"], html=text.get("html"))
             for tag, text in sorted((row.locales or {}).items())]
    return TemplateLocales(name=name, version=row.version, items=items)


@router.delete("/{name}/locales/{locale}", status_code=204)
async def delete_locale(name: str, locale: str, pool: PoolDep, _: AdminDep) -> Response:
    """Removes one translation: a new version without it."""
    await templates.delete_locale(pool, name, locale)
    return Response(status_code=204)


@router.post("/{name}/preview", response_model=PreviewPublic)
async def preview_template(name: str, body: PreviewRequest, pool: PoolDep, settings: SettingsDep, _: ReadDep,
                           version: Annotated[int | None, Query(ge=1, le=MAX_INT4)] = None) -> PreviewPublic:
    row, user = await templates.for_preview(pool, name, version, body.user_id)
    rendered = await render_or_422(row, body.data, user, body.locale, settings.default_locale,
                                   await template_parts.latest(pool, row))
    return PreviewPublic(subject=rendered.subject, body=rendered.body, html=rendered.html)
