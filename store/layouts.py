"""Layouts and their versions: the shared frame (header, footer, styles) a template's html and text go into.
Deleting hides a layout; its versions stay for notifications in flight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Connection, Executor

_SELECT = """
SELECT l.name, v.version, l.latest_version, v.html, v.text, v.includes, l.created_at, v.created_at AS updated_at
FROM layout l JOIN layout_version v ON v.name = l.name
"""


@dataclass(frozen=True)
class LayoutRecord:
    """One version of a layout; `updated_at` is when this version was made."""

    name: str
    version: int
    latest_version: int
    html: str | None
    text: str | None
    includes: list[str]
    created_at: datetime
    updated_at: datetime


async def create(conn: Connection, name: str, html: str | None, text: str | None,
                 includes: tuple[str, ...]) -> LayoutRecord | None:
    """Version 1 of a new layout (or the next version of a deleted name); None when a live layout has the name."""
    async with conn.transaction():
        version: int | None = await conn.fetchval(
            """INSERT INTO layout (name, latest_version) VALUES ($1, 1)
               ON CONFLICT (name) DO UPDATE
                   SET latest_version = layout.latest_version + 1, deleted_at = NULL, updated_at = now()
                   WHERE layout.deleted_at IS NOT NULL
               RETURNING latest_version""",
            name,
        )
        if version is None:
            return None
        await _insert_version(conn, name, version, html, text, includes)
    return await get(conn, name)


async def add_version(conn: Connection, name: str, html: str | None, text: str | None,
                      includes: tuple[str, ...]) -> LayoutRecord | None:
    """The next version of a live layout; None for an unknown (or deleted) name."""
    async with conn.transaction():
        version: int | None = await conn.fetchval(
            """UPDATE layout SET latest_version = latest_version + 1, updated_at = now()
               WHERE name = $1 AND deleted_at IS NULL RETURNING latest_version""",
            name,
        )
        if version is None:
            return None
        await _insert_version(conn, name, version, html, text, includes)
    return await get(conn, name)


async def _insert_version(conn: Connection, name: str, version: int, html: str | None, text: str | None,
                          includes: tuple[str, ...]) -> None:
    await conn.execute(
        "INSERT INTO layout_version (name, version, html, text, includes) VALUES ($1, $2, $3, $4, $5)",
        name, version, html, text, list(includes),
    )


async def get(conn: Executor, name: str, version: int | None = None,
              include_deleted: bool = False) -> LayoutRecord | None:
    """The latest version, or the one asked for."""
    row = await conn.fetchrow(
        _SELECT + """ WHERE l.name = $1 AND v.version = COALESCE($2, l.latest_version)
                      AND ($3 OR l.deleted_at IS NULL)""",
        name, version, include_deleted,
    )
    return one(LayoutRecord, row)


async def list_latest(conn: Executor, after: str | None, limit: int) -> list[LayoutRecord]:
    rows = await conn.fetch(
        _SELECT + """ WHERE v.version = l.latest_version AND l.deleted_at IS NULL
                      AND ($1::text IS NULL OR l.name > $1) ORDER BY l.name LIMIT $2""",
        after, limit,
    )
    return many(LayoutRecord, rows)


async def delete(conn: Executor, name: str) -> bool:
    result = await conn.execute("UPDATE layout SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL", name)
    return result != "UPDATE 0"
