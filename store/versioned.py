"""What templates and layouts share: a head row per name (`latest_version`, `deleted_at`) over a table of
versions, listed by name and deleted softly so that the versions notifications rendered with stay readable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from store.records import R, many, one

if TYPE_CHECKING:
    from store.db import Executor

Head = Literal["template", "layout"]
# `first_version` or `next_version`: how a save claims the number of the version it inserts.
Claim = Callable[["Executor", Head, str], Awaitable["int | None"]]


async def first_version(conn: Executor, head: Head, name: str) -> int | None:
    """Claims version 1 of a new name, or the next version of a deleted one (it comes back to life); None while
    a live one has the name. In the transaction that inserts the version."""
    version: int | None = await conn.fetchval(
        f"""INSERT INTO {head} (name, latest_version) VALUES ($1, 1)
            ON CONFLICT (name) DO UPDATE
                SET latest_version = {head}.latest_version + 1, deleted_at = NULL, updated_at = now()
                WHERE {head}.deleted_at IS NOT NULL
            RETURNING latest_version""",
        name,
    )
    return version


async def next_version(conn: Executor, head: Head, name: str) -> int | None:
    """Claims the next version of a live name; None for an unknown or deleted one. In the transaction that
    inserts the version."""
    version: int | None = await conn.fetchval(
        f"""UPDATE {head} SET latest_version = latest_version + 1, updated_at = now()
            WHERE name = $1 AND deleted_at IS NULL RETURNING latest_version""",
        name,
    )
    return version


async def version_of(conn: Executor, select: str, head_alias: str, record_type: type[R], name: str,
                     version: int | None, include_deleted: bool) -> R | None:
    """One version of a name, its latest by default; a deleted name only with `include_deleted` (what an
    accepted notification pinned stays renderable)."""
    h = head_alias
    row = await conn.fetchrow(
        select + f""" WHERE {h}.name = $1 AND v.version = COALESCE($2, {h}.latest_version)
                      AND ($3 OR {h}.deleted_at IS NULL)""",
        name, version, include_deleted,
    )
    return one(record_type, row)


async def latest_page(conn: Executor, select: str, head_alias: str, record_type: type[R], after: str | None,
                      limit: int) -> list[R]:
    """The latest version of each live name after `after`, by name; `select` joins the head (as `head_alias`)
    to its versions (as `v`)."""
    h = head_alias
    rows = await conn.fetch(
        select + f""" WHERE v.version = {h}.latest_version AND {h}.deleted_at IS NULL
                      AND ($1::text IS NULL OR {h}.name > $1) ORDER BY {h}.name LIMIT $2""",
        after, limit,
    )
    return many(record_type, rows)


async def soft_delete(conn: Executor, head: Head, name: str) -> bool:
    """Hides the name from listings and new sends; False when there was nothing live to delete."""
    result = await conn.execute(f"UPDATE {head} SET deleted_at = now() WHERE name = $1 AND deleted_at IS NULL", name)
    return result != "UPDATE 0"
