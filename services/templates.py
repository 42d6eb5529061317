"""Templates: named, versioned Jinja2. Every save is a new version; old versions stay readable for the
notifications pinned to them, and deleting hides a template without removing its versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from core import locales, templating
from core.errors import Problem, invalid, not_found
from services import template_parts
from store import templates, users
from store.templates import TemplateRecord as TemplateRecord
from store.templates import VersionRecord as VersionRecord
from store.users import UserRecord as UserRecord

if TYPE_CHECKING:
    from store.db import Executor


async def check_sources(subject: str | None, body: str, html: str | None) -> None:
    """422 naming the field and line of a syntax error. Parsing runs in a render thread: a 200 KB template takes
    a noticeable while."""
    await templating.in_render_thread(_check_sources, subject, body, html)


async def check_texts(db: Executor, name: str, subject: str | None, body: str, html: str | None,
                      layout: str | None = None) -> tuple[str, ...]:
    """The checks of `check_sources`, then of what the texts refer to: 422 naming the field of an include that
    does not exist or makes a cycle, or of a layout that does not exist. Returns the templates included."""
    if not body and not html:
        raise invalid("body", "give a body, or an html from which the text part is made")
    await check_sources(subject, body, html)
    found = await templating.in_render_thread(template_parts.included_names,
                                              {"subject": subject, "body": body, "html": html})
    await template_parts.check_layout(db, layout)
    return await template_parts.check_includes(db, name, found)


def _check_sources(subject: str | None, body: str, html: str | None) -> None:
    try:
        if subject:
            templating.check_syntax(subject, "subject")
        if body:
            templating.check_syntax(body, "body")
        if html:
            templating.check_syntax(html, "html")
    except templating.TemplateError as exc:
        raise invalid(exc.field, exc.message, code="template_syntax_error", line=exc.line) from exc


async def variables(template: TemplateRecord) -> list[str]:
    """The data variables the version's own texts use."""
    return await templating.in_render_thread(templating.variables, template.subject, template.body, template.html)


async def create(pool: asyncpg.Pool, name: str, subject: str | None, body: str, description: str | None,
                 html: str | None, layout: str | None = None) -> TemplateRecord:
    """Version 1 of a new template (or the next version of a deleted name); 422 on a syntax error or a missing
    layout or include, 409 when a live template has the name."""
    includes = await check_texts(pool, name, subject, body, html, layout)
    async with pool.acquire() as conn:
        row = await templates.create(conn, name, subject, body, description, html, layout=layout,
                                     includes=includes)
    if row is None:
        raise Problem(409, "template_exists", f"a template named '{name}' already exists; "
                      "PUT /v1/templates/{name} adds a version")
    return row


async def update(pool: asyncpg.Pool, name: str, subject: str | None, body: str, description: str | None,
                 html: str | None, named: str | None = None, layout: str | None = None) -> TemplateRecord:
    """The next version of a template; 422 on a syntax error, a missing layout or include, an include cycle (or
    when `named`, the name the request body gives, is another), 404 for an unknown (or deleted) name."""
    if named is not None and named != name:
        raise invalid("name", f"the body names '{named}' but the path names '{name}'")
    includes = await check_texts(pool, name, subject, body, html, layout)
    async with pool.acquire() as conn:
        row = await templates.add_version(conn, name, subject, body, description, html, layout=layout,
                                          includes=includes)
    if row is None:
        raise not_found("template", name)
    return row


async def get(db: Executor, name: str, version: int | None = None) -> TemplateRecord:
    """The latest version, or the one asked for; 404 otherwise."""
    row = await templates.get(db, name, version)
    if row is None:
        raise not_found("template", f"{name}" + (f"' version '{version}" if version else ""))
    return row


async def find(db: Executor, name: str, version: int | None = None) -> TemplateRecord | None:
    """The latest version, or the one asked for; None when there is none (a page shows its own answer)."""
    return await templates.get(db, name, version)


async def list_latest(db: Executor, after: str | None, limit: int) -> list[TemplateRecord]:
    """The latest version of each live template, by name."""
    return await templates.list_latest(db, after, limit)


async def history(db: Executor, name: str) -> list[VersionRecord]:
    """Every version of a template, newest first."""
    return await templates.versions(db, name)


async def delete(db: Executor, name: str) -> None:
    if not await templates.delete(db, name):
        raise not_found("template", name)


def locale_tag(locale: str) -> str:
    """A locale tag in its usual spelling; 422 when it is none."""
    try:
        return locales.canonical(locale)
    except locales.LocaleTagError as exc:
        raise invalid("locale", str(exc), code="invalid_locale") from exc


async def put_locale(pool: asyncpg.Pool, name: str, locale: str, subject: str | None, body: str,
                     html: str | None) -> TemplateRecord:
    """Adds or replaces one translation: a new version, so notifications pinned to older ones keep theirs."""
    tag = locale_tag(locale)
    includes = await check_texts(pool, name, subject, body, html)
    async with pool.acquire() as conn:
        row = await templates.put_locale(conn, name, tag, subject, body, html, includes)
    if row is None:
        raise not_found("template", name)
    return row


async def delete_locale(pool: asyncpg.Pool, name: str, locale: str) -> None:
    """Removes one translation: a new version without it."""
    tag = locale_tag(locale)
    async with pool.acquire() as conn:
        done = await templates.delete_locale(conn, name, tag)
    if done is None:
        raise not_found("template", name)
    if not done:
        raise not_found("template locale", f"{name}' locale '{tag}")


async def for_preview(db: Executor, name: str, version: int | None,
                      user_id: str | None) -> tuple[TemplateRecord, UserRecord | None]:
    """The version and the user a preview renders with; 404 for the template, 422 naming an unknown user."""
    row = await templates.get(db, name, version)
    if row is None:
        raise not_found("template", name)
    user = None
    if user_id is not None:
        user = await users.get(db, user_id)
        if user is None:
            raise invalid("user_id", f"user '{user_id}' does not exist", code="unknown_user")
    return row, user
