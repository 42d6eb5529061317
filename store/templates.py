"""Templates and their versions. Deleting hides a template; its versions stay for notifications in flight."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store import users

if TYPE_CHECKING:
    from store.db import Connection, Executor


_SELECT = """
SELECT t.name, v.version, v.subject, v.body, v.html, v.description, t.created_at, v.created_at AS updated_at,
       t.latest_version
FROM template t JOIN template_version v ON v.name = t.name
"""


async def create(conn: Connection, name: str, subject: str | None, body: str, description: str | None,
                 html: str | None = None) -> dict[str, Any] | None:
    """Creates version 1, or the next version of a deleted name; None when a live template has the name."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO template (name, latest_version) VALUES ($1, 1)
               ON CONFLICT (name) DO UPDATE
                   SET latest_version = template.latest_version + 1, deleted_at = NULL, updated_at = now()
                   WHERE template.deleted_at IS NOT NULL
               RETURNING latest_version""",
            name,
        )
        if row is None:
            return None
        await _insert_version(conn, name, row["latest_version"], subject, body, description, html)
    return await get(conn, name)


async def _insert_version(conn: Connection, name: str, version: int, subject: str | None, body: str,
                          description: str | None, html: str | None) -> None:
    await conn.execute(
        """INSERT INTO template_version (name, version, subject, body, description, html)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        name, version, subject, body, description, html,
    )


async def add_version(conn: Connection, name: str, subject: str | None, body: str, description: str | None,
                      html: str | None = None) -> dict[str, Any] | None:
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE template SET latest_version = latest_version + 1, updated_at = now()
               WHERE name = $1 AND deleted_at IS NULL RETURNING latest_version""",
            name,
        )
        if row is None:
            return None
        await _insert_version(conn, name, row["latest_version"], subject, body, description, html)
    return await get(conn, name)


async def get(conn: Executor, name: str, version: int | None = None,
              include_deleted: bool = False) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        _SELECT + """ WHERE t.name = $1 AND v.version = COALESCE($2, t.latest_version)
                      AND ($3 OR t.deleted_at IS NULL)""",
        name, version, include_deleted,
    )
    return dict(row) if row else None


async def get_with_user(conn: Executor, name: str, version: int | None, user_id: str | None,
                        include_deleted: bool = False) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A template version and a user in one round trip (the accept path's read, and the worker's before it
    renders, which also reads deleted templates), as plain JSON values."""
    row = await conn.fetchrow(
        f"""SELECT (SELECT row_to_json(x) FROM ({_SELECT} WHERE t.name = $1
                        AND v.version = COALESCE($2, t.latest_version) AND ($4 OR t.deleted_at IS NULL)) x)
                       AS template,
                   (SELECT row_to_json(u) FROM (SELECT {users.COLUMNS} FROM app_user WHERE id = $3) u) AS user""",
        name, version, user_id, include_deleted,
    )
    assert row is not None
    return row["template"], row["user"]


async def list_latest(conn: Executor, after: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        _SELECT + """ WHERE v.version = t.latest_version AND t.deleted_at IS NULL
                      AND ($1::text IS NULL OR t.name > $1) ORDER BY t.name LIMIT $2""",
        after, limit,
    )
    return [dict(r) for r in rows]


async def delete(conn: Executor, name: str) -> bool:
    result = await conn.execute(
        "UPDATE template SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL", name
    )
    return result != "UPDATE 0"


async def versions(conn: Executor, name: str) -> list[dict[str, Any]]:
    """Every version of a template, newest first."""
    rows = await conn.fetch(
        """SELECT version, subject, description, created_at FROM template_version
           WHERE name = $1 ORDER BY version DESC""",
        name,
    )
    return [dict(r) for r in rows]
