"""Recipients and their inbox tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.db import Executor

USER_FIELDS = ("name", "email", "phone", "push_token", "webhook_url", "locale", "timezone", "topics",
               "preferences")
COLUMNS = "id, " + ", ".join(USER_FIELDS) + ", created_at, updated_at"


async def create(conn: Executor, user_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"""INSERT INTO app_user (id, name, email, phone, push_token, webhook_url, locale, timezone,
                                  topics, preferences)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, '{{}}'::text[]), COALESCE($10, '{{}}'::jsonb))
            ON CONFLICT (id) DO NOTHING
            RETURNING {COLUMNS}""",
        user_id, *(fields.get(f) for f in USER_FIELDS),
    )
    return dict(row) if row else None


async def get(conn: Executor, user_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM app_user WHERE id = $1", user_id)
    return dict(row) if row else None


async def list_users(conn: Executor, after: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM app_user WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
        after, limit,
    )
    return [dict(r) for r in rows]


async def update(conn: Executor, user_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Sets exactly the fields present in `changes` (a field set to null is cleared)."""
    present = [f for f in USER_FIELDS if f in changes]
    # Column names come from the fixed USER_FIELDS tuple, never from input; values are bind parameters.
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(present))
    sql = f"UPDATE app_user SET {assignments + ', ' if assignments else ''}updated_at = now() " \
          f"WHERE id = $1 RETURNING {COLUMNS}"
    row = await conn.fetchrow(sql, user_id, *(changes[f] for f in present))
    return dict(row) if row else None


async def add_token(conn: Executor, user_id: str, token_hash: str) -> None:
    await conn.execute("INSERT INTO user_token (token_hash, user_id) VALUES ($1, $2)", token_hash, user_id)


async def user_for_token(conn: Executor, token_hash: str) -> str | None:
    user_id: str | None = await conn.fetchval(
        "SELECT user_id FROM user_token WHERE token_hash = $1", token_hash
    )
    return user_id


async def search(conn: Executor, query: str, limit: int) -> list[dict[str, Any]]:
    """Users whose id or name starts with `query`, or whose email contains it (the send page's picker)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM app_user
            WHERE id ILIKE $1 || '%' OR name ILIKE $1 || '%' OR email ILIKE '%' || $1 || '%'
            ORDER BY id LIMIT $2""",
        query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"), limit,
    )
    return [dict(r) for r in rows]
