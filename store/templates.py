"""Templates and their versions. Deleting hides a template; its versions stay for notifications in flight."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store import layouts, users, versioned
from store.layouts import LayoutRecord
from store.records import many
from store.users import UserRecord

if TYPE_CHECKING:
    from store.db import Connection, Executor


_SELECT = """
SELECT t.name, v.version, v.subject, v.body, v.html, v.description, t.created_at, v.created_at AS updated_at,
       t.latest_version, v.layout,
       ARRAY(SELECT unnest(v.includes) UNION SELECT unnest(l.includes) FROM template_locale l
             WHERE l.name = v.name AND l.version = v.version ORDER BY 1) AS includes,
       (SELECT COALESCE(json_object_agg(l.locale, json_build_object('subject', l.subject, 'body', l.body,
                                                                    'html', l.html) ORDER BY l.locale), '{}')
        FROM template_locale l WHERE l.name = v.name AND l.version = v.version) AS locales
FROM template t JOIN template_version v ON v.name = t.name
"""


@dataclass(frozen=True)
class TemplateRecord:
    """One version of a template (a `core.locales.Translatable`); `updated_at` is when this version was made."""

    name: str
    version: int
    subject: str | None
    body: str
    html: str | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    latest_version: int
    locales: dict[str, dict[str, Any]]  # tag -> {"subject", "body", "html"}
    layout: str | None = None
    includes: list[str] = field(default_factory=list)  # the templates its texts and translations include


@dataclass(frozen=True)
class VersionRecord:
    """A line of a template's history."""

    version: int
    subject: str | None
    description: str | None
    created_at: datetime


def _from_json(value: dict[str, Any] | None) -> TemplateRecord | None:
    if value is None:
        return None
    return TemplateRecord(**{**value, "created_at": datetime.fromisoformat(value["created_at"]),
                             "updated_at": datetime.fromisoformat(value["updated_at"])})


async def create(conn: Connection, name: str, subject: str | None, body: str, description: str | None,
                 html: str | None = None, *, layout: str | None = None,
                 includes: tuple[str, ...] = ()) -> TemplateRecord | None:
    """Creates version 1, or the next version of a deleted name; None when a live template has the name."""
    return await _save(conn, versioned.first_version, name, subject, body, description, html, layout, includes)


async def _insert_version(conn: Connection, name: str, version: int, subject: str | None, body: str,
                          description: str | None, html: str | None, layout: str | None,
                          includes: tuple[str, ...]) -> None:
    await conn.execute(
        """INSERT INTO template_version (name, version, subject, body, description, html, layout, includes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        name, version, subject, body, description, html, layout, list(includes),
    )


async def add_version(conn: Connection, name: str, subject: str | None, body: str, description: str | None,
                      html: str | None = None, *, layout: str | None = None,
                      includes: tuple[str, ...] = ()) -> TemplateRecord | None:
    return await _save(conn, versioned.next_version, name, subject, body, description, html, layout, includes)


async def _save(conn: Connection, claim: versioned.Claim, name: str, subject: str | None, body: str,
                description: str | None, html: str | None, layout: str | None,
                includes: tuple[str, ...]) -> TemplateRecord | None:
    async with conn.transaction():
        version = await claim(conn, "template", name)
        if version is None:
            return None
        await _insert_version(conn, name, version, subject, body, description, html, layout, includes)
        # A new text keeps the template's translations: the next version has them as the last one had (a
        # version 1 has none to keep; a revived name starts without the deleted one's).
        if claim is versioned.next_version:
            await _copy_locales(conn, name, version, except_locale=None)
    return await get(conn, name)


async def _copy_locales(conn: Connection, name: str, version: int, except_locale: str | None) -> None:
    """The translations of the version before `version`, given to `version` (all but `except_locale`)."""
    await conn.execute(
        """INSERT INTO template_locale (name, version, locale, subject, body, html, includes)
           SELECT name, $2, locale, subject, body, html, includes FROM template_locale
           WHERE name = $1 AND version = $2 - 1 AND ($3::text IS NULL OR locale <> $3)""",
        name, version, except_locale,
    )


async def _next_version_same_text(conn: Connection, name: str) -> int | None:
    """A new version with the latest's own texts; None for an unknown (or deleted) name. In a transaction."""
    version = await versioned.next_version(conn, "template", name)
    if version is None:
        return None
    await conn.execute(
        """INSERT INTO template_version (name, version, subject, body, description, html, layout, includes)
           SELECT name, $2, subject, body, description, html, layout, includes FROM template_version
           WHERE name = $1 AND version = $2 - 1""",
        name, version,
    )
    return version


async def put_locale(conn: Connection, name: str, locale: str, subject: str | None, body: str,
                     html: str | None, includes: tuple[str, ...] = ()) -> TemplateRecord | None:
    """A new version with `locale`'s texts set (added or replaced); None for an unknown (or deleted) name."""
    async with conn.transaction():
        version = await _next_version_same_text(conn, name)
        if version is None:
            return None
        await _copy_locales(conn, name, version, except_locale=locale)
        await conn.execute(
            """INSERT INTO template_locale (name, version, locale, subject, body, html, includes)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            name, version, locale, subject, body, html, list(includes),
        )
    return await get(conn, name)


async def delete_locale(conn: Connection, name: str, locale: str) -> bool | None:
    """A new version without `locale`: True; False when the latest version has no such translation; None for
    an unknown (or deleted) name."""
    async with conn.transaction():
        latest: int | None = await conn.fetchval(
            "SELECT latest_version FROM template WHERE name = $1 AND deleted_at IS NULL FOR UPDATE", name)
        if latest is None:
            return None
        present = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM template_locale WHERE name = $1 AND version = $2 AND locale = $3)",
            name, latest, locale)
        if not present:
            return False
        version = await _next_version_same_text(conn, name)
        assert version is not None
        await _copy_locales(conn, name, version, except_locale=locale)
    return True


async def get(conn: Executor, name: str, version: int | None = None,
              include_deleted: bool = False) -> TemplateRecord | None:
    return await versioned.version_of(conn, _SELECT, "t", TemplateRecord, name, version, include_deleted)


async def get_with_user(conn: Executor, name: str, version: int | None, user_id: str | None,
                        include_deleted: bool = False) -> tuple[TemplateRecord | None, UserRecord | None]:
    """A template version and a user in one round trip (the accept path's read, and the worker's before it
    renders, which also reads deleted templates)."""
    row = await conn.fetchrow(
        f"""SELECT (SELECT row_to_json(x) FROM ({_SELECT} WHERE t.name = $1
                        AND v.version = COALESCE($2, t.latest_version) AND ($4 OR t.deleted_at IS NULL)) x)
                       AS template,
                   (SELECT row_to_json(u) FROM (SELECT {users.COLUMNS} FROM app_user WHERE id = $3) u) AS user""",
        name, version, user_id, include_deleted,
    )
    assert row is not None
    return _from_json(row["template"]), users.from_json(row["user"])


@dataclass(frozen=True)
class ForAccept:
    """What accepting a batch of notifications reads before it checks them, in one round trip."""

    templates: dict[tuple[str, int | None], TemplateRecord]  # by (name, version asked; None: the latest)
    layouts: dict[str, LayoutRecord]  # the latest version of each layout they use, deleted ones too
    parts: dict[str, TemplateRecord]  # the latest live version of each template they include, directly or not
    users: dict[str, UserRecord]
    catalog: int | None  # `template_catalog.version` as the templates, layouts and includes were read


async def for_accept(conn: Executor, asked: Sequence[tuple[str, int | None]], user_ids: Sequence[str]) -> ForAccept:
    """The live template versions asked for (name, version; None: the latest), the layouts and the included
    templates they render with (`services.template_parts.compose` checks that none is missing), and the users.
    One statement however many notifications ask: the includes are followed by a recursive query."""
    row = await conn.fetchrow(
        f"""WITH RECURSIVE asked AS (
                SELECT DISTINCT a.name, a.version FROM unnest($1::text[], $2::int[]) AS a (name, version)
            ), found AS (
                {_SELECT} JOIN asked a ON a.name = t.name AND v.version = COALESCE(a.version, t.latest_version)
                WHERE t.deleted_at IS NULL
            ), used_layouts AS (
                {layouts.LAYOUT_SELECT} WHERE l.name IN (SELECT layout FROM found) AND v.version = l.latest_version
            ), included (name) AS (
                SELECT unnest(includes) FROM found
                UNION SELECT unnest(includes) FROM used_layouts
                UNION
                SELECT inc.name FROM included i
                JOIN template t ON t.name = i.name AND t.deleted_at IS NULL
                JOIN template_version v ON v.name = t.name AND v.version = t.latest_version
                CROSS JOIN LATERAL (SELECT unnest(v.includes) UNION SELECT unnest(l.includes) FROM template_locale l
                                    WHERE l.name = v.name AND l.version = v.version) AS inc (name)
            )
            SELECT (SELECT json_agg(f) FROM found f) AS templates,
                   (SELECT json_agg(l) FROM used_layouts l) AS layouts,
                   (SELECT json_agg(p) FROM ({_SELECT} WHERE t.name IN (SELECT name FROM included)
                                             AND v.version = t.latest_version AND t.deleted_at IS NULL) p) AS parts,
                   (SELECT json_agg(u) FROM (SELECT {users.COLUMNS} FROM app_user WHERE id = ANY($3::text[])) u)
                       AS users,
                   (SELECT version FROM template_catalog) AS catalog""",
        [name for name, _ in asked], [version for _, version in asked], list(user_ids),
    )
    assert row is not None
    by_key: dict[tuple[str, int | None], TemplateRecord] = {}
    for value in row["templates"] or []:
        template = _from_json(value)
        assert template is not None
        by_key[(template.name, template.version)] = template
        if template.version == template.latest_version:
            by_key[(template.name, None)] = template
    parts = [_from_json(value) for value in row["parts"] or []]
    return ForAccept(templates=by_key,
                     layouts={layout.name: layout for layout in map(layouts.from_json, row["layouts"] or [])},
                     parts={part.name: part for part in parts if part is not None},
                     users=_users_by_id(row["users"]), catalog=row["catalog"])


async def catalog_and_users(conn: Executor, user_ids: Sequence[str]) -> tuple[int | None, dict[str, UserRecord]]:
    """`template_catalog.version` and the users, in one round trip: what accepting reads when it holds the
    templates from before (`services.accept_reads`)."""
    row = await conn.fetchrow(
        f"""SELECT (SELECT version FROM template_catalog) AS catalog,
                   (SELECT json_agg(u) FROM (SELECT {users.COLUMNS} FROM app_user WHERE id = ANY($1::text[])) u)
                       AS users""",
        list(user_ids),
    )
    assert row is not None
    return row["catalog"], _users_by_id(row["users"])


def _users_by_id(values: list[dict[str, Any]] | None) -> dict[str, UserRecord]:
    found = [users.from_json(value) for value in values or []]
    return {user.id: user for user in found if user is not None}


@dataclass(frozen=True)
class RenderPins:
    """The versions of its layout and includes a notification fixed at accept (`notification.render_pins`)."""

    layout: tuple[str, int] | None
    includes: dict[str, int]

    @classmethod
    def from_json(cls, value: dict[str, Any] | None) -> RenderPins | None:
        if value is None:
            return None
        layout = value.get("layout")
        return cls(layout=(str(layout[0]), int(layout[1])) if layout else None,
                   includes={str(k): int(v) for k, v in (value.get("includes") or {}).items()})


@dataclass(frozen=True)
class ForRender:
    template: TemplateRecord | None
    user: UserRecord | None
    requested_locale: str | None
    pins: RenderPins | None


async def get_for_render(conn: Executor, name: str, version: int, user_id: str | None, notification_id: str
                         ) -> ForRender:
    """What the worker reads before it renders, in one round trip: the template version (deleted ones too), the
    user, the locale the notification asked for and the versions of its layout and includes pinned at accept."""
    row = await conn.fetchrow(
        f"""SELECT (SELECT row_to_json(x) FROM ({_SELECT} WHERE t.name = $1 AND v.version = $2) x) AS template,
                   (SELECT row_to_json(u) FROM (SELECT {users.COLUMNS} FROM app_user WHERE id = $3) u) AS user,
                   n.requested_locale, n.render_pins
            FROM (SELECT 1) one LEFT JOIN notification n ON n.id = $4""",
        name, version, user_id, notification_id,
    )
    assert row is not None
    return ForRender(_from_json(row["template"]), users.from_json(row["user"]), row["requested_locale"],
                     RenderPins.from_json(row["render_pins"]))


async def latest_of(conn: Executor, names: list[str]) -> list[TemplateRecord]:
    """The latest version of each of these live templates (an unknown or deleted name is left out)."""
    rows = await conn.fetch(
        _SELECT + " WHERE t.name = ANY($1) AND v.version = t.latest_version AND t.deleted_at IS NULL", names)
    return many(TemplateRecord, rows)


async def pinned(conn: Executor, versions: dict[str, int]) -> list[TemplateRecord]:
    """These versions (by name), deleted templates' too: what a notification pinned is rendered as it was."""
    rows = await conn.fetch(
        _SELECT + " WHERE (t.name, v.version) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
        list(versions), list(versions.values()))
    return many(TemplateRecord, rows)


async def using_layout(conn: Executor, layout: str) -> list[str]:
    """The live templates whose latest version wraps itself in `layout`."""
    rows = await conn.fetch(
        """SELECT t.name FROM template t JOIN template_version v ON v.name = t.name AND v.version = t.latest_version
           WHERE t.deleted_at IS NULL AND v.layout = $1 ORDER BY t.name""", layout)
    return [r["name"] for r in rows]


async def list_latest(conn: Executor, after: str | None, limit: int) -> list[TemplateRecord]:
    return await versioned.latest_page(conn, _SELECT, "t", TemplateRecord, after, limit)


async def delete(conn: Executor, name: str) -> bool:
    return await versioned.soft_delete(conn, "template", name)


async def versions(conn: Executor, name: str) -> list[VersionRecord]:
    """Every version of a template, newest first."""
    rows = await conn.fetch(
        """SELECT version, subject, description, created_at FROM template_version
           WHERE name = $1 ORDER BY version DESC""",
        name,
    )
    return many(VersionRecord, rows)


async def locales_in_use(conn: Executor) -> list[str]:
    """The locales any live template's latest version has a translation for."""
    rows = await conn.fetch(
        """SELECT DISTINCT l.locale FROM template t
           JOIN template_locale l ON l.name = t.name AND l.version = t.latest_version
           WHERE t.deleted_at IS NULL ORDER BY l.locale""")
    return [row["locale"] for row in rows]
