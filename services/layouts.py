"""Layouts: named, versioned frames for templates' html and text. Every save is a new version; deleting hides a
layout (its versions stay for the notifications pinned to them) and is refused while a template uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from core import templating
from core.errors import Problem, invalid, not_found
from services import template_parts
from store import layouts, templates
from store.layouts import LayoutRecord as LayoutRecord

if TYPE_CHECKING:
    from store.db import Executor


def _check_texts(html: str | None, text: str | None) -> dict[str, list[str]]:
    """422 naming the field with a syntax error or without `{{ content }}`; the templates each field includes."""
    if html is None and text is None:
        raise invalid("html", "a layout needs an html or a text (or both), each holding {{ content }}")
    for field, source in (("html", html), ("text", text)):
        if source is None:
            continue
        try:
            templating.check_syntax(source, field)
        except templating.TemplateError as exc:
            raise invalid(field, exc.message, code="template_syntax_error", line=exc.line) from exc
        if not templating.uses_variable(source, "content"):
            raise invalid(field, f"the layout's {field} must place the template's output with {{{{ content }}}}",
                          code="layout_without_content")
    return template_parts.included_names({"html": html, "text": text})


async def _checked(db: Executor, html: str | None, text: str | None) -> tuple[str, ...]:
    found = await templating.in_render_thread(_check_texts, html, text)
    return await template_parts.check_includes(db, None, found)


async def create(pool: asyncpg.Pool, name: str, html: str | None, text: str | None) -> LayoutRecord:
    """Version 1 of a new layout (or the next version of a deleted name); 409 when a live layout has the name."""
    includes = await _checked(pool, html, text)
    async with pool.acquire() as conn:
        row = await layouts.create(conn, name, html, text, includes)
    if row is None:
        raise Problem(409, "layout_exists", f"a layout named '{name}' already exists; "
                      "PUT /v1/layouts/{name} adds a version")
    return row


async def update(pool: asyncpg.Pool, name: str, html: str | None, text: str | None,
                 named: str | None = None) -> LayoutRecord:
    """The next version; templates that use the layout render with it from the next notification accepted."""
    if named is not None and named != name:
        raise invalid("name", f"the body names '{named}' but the path names '{name}'")
    includes = await _checked(pool, html, text)
    async with pool.acquire() as conn:
        row = await layouts.add_version(conn, name, html, text, includes)
    if row is None:
        raise not_found("layout", name)
    return row


async def get(db: Executor, name: str, version: int | None = None) -> LayoutRecord:
    row = await layouts.get(db, name, version)
    if row is None:
        raise not_found("layout", name + (f"' version '{version}" if version else ""))
    return row


async def list_latest(db: Executor, after: str | None, limit: int) -> list[LayoutRecord]:
    return await layouts.list_latest(db, after, limit)


async def delete(db: Executor, name: str) -> None:
    """Hides the layout; 409 naming the templates whose latest version uses it."""
    users = await templates.using_layout(db, name)
    if users:
        raise Problem(409, "layout_in_use", f"layout '{name}' is used by template(s) {', '.join(users)}: give "
                      "them another layout (or none) first", details={"templates": users})
    if not await layouts.delete(db, name):
        raise not_found("layout", name)
