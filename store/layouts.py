"""Layouts and their versions: the shared frame (header, footer, styles) a template's html and text go into.
Deleting hides a layout; its versions stay for notifications in flight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store import versioned

if TYPE_CHECKING:
    from store.db import Connection, Executor

_SELECT = """
SELECT l.name, v.version, l.latest_version, v.html, v.text, v.includes, l.created_at, v.created_at AS updated_at
FROM layout l JOIN layout_version v ON v.name = l.name
"""
LAYOUT_SELECT = _SELECT  # for the accept path's read, which reads layouts with templates and users


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


def from_json(value: dict[str, Any]) -> LayoutRecord:
    """A layout read as `row_to_json` of LAYOUT_SELECT (one round trip that also reads other things)."""
    return LayoutRecord(**{**value, "created_at": datetime.fromisoformat(value["created_at"]),
                           "updated_at": datetime.fromisoformat(value["updated_at"])})


async def create(conn: Connection, name: str, html: str | None, text: str | None,
                 includes: tuple[str, ...]) -> LayoutRecord | None:
    """Version 1 of a new layout (or the next version of a deleted name); None when a live layout has the name."""
    return await _save(conn, versioned.first_version, name, html, text, includes)


async def add_version(conn: Connection, name: str, html: str | None, text: str | None,
                      includes: tuple[str, ...]) -> LayoutRecord | None:
    """The next version of a live layout; None for an unknown (or deleted) name."""
    return await _save(conn, versioned.next_version, name, html, text, includes)


async def _save(conn: Connection, claim: versioned.Claim, name: str, html: str | None, text: str | None,
                includes: tuple[str, ...]) -> LayoutRecord | None:
    async with conn.transaction():
        version = await claim(conn, "layout", name)
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
    return await versioned.version_of(conn, _SELECT, "l", LayoutRecord, name, version, include_deleted)


async def list_latest(conn: Executor, after: str | None, limit: int) -> list[LayoutRecord]:
    return await versioned.latest_page(conn, _SELECT, "l", LayoutRecord, after, limit)


async def delete(conn: Executor, name: str) -> bool:
    return await versioned.soft_delete(conn, "layout", name)
