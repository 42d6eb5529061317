"""Recipients and their inbox tokens."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor

USER_FIELDS = ("name", "email", "phone", "push_token", "webhook_url", "locale", "timezone", "topics",
               "preferences", "chat_address")
COLUMNS = "id, " + ", ".join(USER_FIELDS) + ", created_at, updated_at"


@dataclass(frozen=True)
class UserRecord:
    """A recipient: contact points, locale, topics and preferences (it is a `core.recipients.Recipient`)."""

    id: str
    name: str
    email: str | None
    phone: str | None
    push_token: str | None
    webhook_url: str | None
    locale: str | None
    timezone: str | None
    topics: list[str]
    preferences: dict[str, Any]
    chat_address: str | None
    created_at: datetime
    updated_at: datetime


def from_json(value: dict[str, Any] | None) -> UserRecord | None:
    """A user read as `row_to_json` of its COLUMNS (one round trip that also reads other things)."""
    if value is None:
        return None
    return UserRecord(**{**value, "created_at": datetime.fromisoformat(value["created_at"]),
                         "updated_at": datetime.fromisoformat(value["updated_at"])})


async def create(conn: Executor, user_id: str, fields: dict[str, Any]) -> UserRecord | None:
    row = await conn.fetchrow(
        f"""INSERT INTO app_user (id, name, email, phone, push_token, webhook_url, locale, timezone,
                                  topics, preferences, chat_address)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, COALESCE($9, '{{}}'::text[]), COALESCE($10, '{{}}'::jsonb),
                    $11)
            ON CONFLICT (id) DO NOTHING
            RETURNING {COLUMNS}""",
        user_id, *(fields.get(f) for f in USER_FIELDS),
    )
    return one(UserRecord, row)


async def get(conn: Executor, user_id: str) -> UserRecord | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM app_user WHERE id = $1", user_id)
    return one(UserRecord, row)


async def list_users(conn: Executor, after: str | None, limit: int) -> list[UserRecord]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM app_user WHERE ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2",
        after, limit,
    )
    return many(UserRecord, rows)


async def update(conn: Executor, user_id: str, changes: dict[str, Any]) -> UserRecord | None:
    """Sets exactly the fields present in `changes` (a field set to null is cleared)."""
    present = [f for f in USER_FIELDS if f in changes]
    # Column names come from the fixed USER_FIELDS tuple, never from input; values are bind parameters.
    assignments = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(present))
    sql = f"UPDATE app_user SET {assignments + ', ' if assignments else ''}updated_at = now() " \
          f"WHERE id = $1 RETURNING {COLUMNS}"
    row = await conn.fetchrow(sql, user_id, *(changes[f] for f in present))
    return one(UserRecord, row)


async def add_token(conn: Executor, user_id: str, token_id: str, token_hash: str, ttl_s: int) -> datetime:
    """Stores a token's hash; returns when it expires."""
    expires_at: datetime = await conn.fetchval(
        """INSERT INTO user_token (id, token_hash, user_id, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at""",
        token_id, token_hash, user_id, float(ttl_s))
    return expires_at


async def revoke_token(conn: Executor, user_id: str, token_id: str) -> bool:
    """Revokes one of the user's tokens at once; False if the user has no such token. Twice is a no-op."""
    done: str = await conn.execute(
        "UPDATE user_token SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 AND user_id = $2",
        token_id, user_id)
    return done.endswith(" 1")


async def token_live(conn: Executor, token_id: str) -> bool:
    """Whether the token is neither revoked nor expired."""
    live: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM user_token WHERE id = $1 AND revoked_at IS NULL AND expires_at > now())",
        token_id)
    return live


@dataclass(frozen=True)
class TokenCheck:
    """The answer to one presented user token: whose it is and whether this request fits its rate."""

    token_id: str
    user_id: str
    allowed: bool
    retry_after_s: int


async def check_token(conn: Executor, token_hash: str, rate: float, burst: int) -> TokenCheck | None:
    """Looks up a live token (not expired, not revoked) and takes one request from its rate, in one statement.

    The same GCRA as `store.keys.check`, in the same table, under the subject `token:<id>`."""
    row = await conn.fetchrow(
        """
        WITH t AS (
            SELECT id, user_id, 'token:' || id AS subject FROM user_token
            WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
        ), spent AS (
            INSERT INTO api_rate (subject, tat)
            SELECT subject, clock_timestamp() + make_interval(secs => 1.0 / $2) FROM t WHERE $2 > 0
            ON CONFLICT (subject) DO UPDATE
            SET tat = GREATEST(api_rate.tat, clock_timestamp()) + make_interval(secs => 1.0 / $2)
            WHERE GREATEST(api_rate.tat, clock_timestamp()) - clock_timestamp()
                  <= make_interval(secs => ($3 - 1) / $2)
            RETURNING tat
        )
        SELECT t.id, t.user_id, ($2 <= 0 OR EXISTS (SELECT 1 FROM spent)) AS allowed,
               EXTRACT(EPOCH FROM (SELECT tat FROM api_rate WHERE subject = t.subject) - clock_timestamp())
                   AS ahead_s
        FROM t
        """,
        token_hash, float(rate), float(burst),
    )
    if row is None:
        return None
    retry_after = 0
    if not row["allowed"]:
        retry_after = max(1, math.ceil(float(row["ahead_s"] or 0) - (burst - 1) / rate))
    return TokenCheck(row["id"], row["user_id"], bool(row["allowed"]), retry_after)


async def search(conn: Executor, query: str, limit: int) -> list[UserRecord]:
    """Users whose id or name starts with `query`, or whose email contains it (the send page's picker)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM app_user
            WHERE id ILIKE $1 || '%' OR name ILIKE $1 || '%' OR email ILIKE '%' || $1 || '%'
            ORDER BY id LIMIT $2""",
        query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"), limit,
    )
    return many(UserRecord, rows)


async def take_rate(conn: Executor, subject: str, rate: float, burst: int) -> tuple[bool, int]:
    """Takes one request from `subject`'s rate (the GCRA of `check_token`): (allowed, retry after s)."""
    if rate <= 0:
        return True, 0
    row = await conn.fetchrow(
        """
        WITH spent AS (
            INSERT INTO api_rate (subject, tat) VALUES ($1, clock_timestamp() + make_interval(secs => 1.0 / $2))
            ON CONFLICT (subject) DO UPDATE
            SET tat = GREATEST(api_rate.tat, clock_timestamp()) + make_interval(secs => 1.0 / $2)
            WHERE GREATEST(api_rate.tat, clock_timestamp()) - clock_timestamp()
                  <= make_interval(secs => ($3 - 1) / $2)
            RETURNING tat
        )
        SELECT EXISTS (SELECT 1 FROM spent) AS allowed,
               EXTRACT(EPOCH FROM (SELECT tat FROM api_rate WHERE subject = $1) - clock_timestamp()) AS ahead_s
        """,
        subject, float(rate), float(burst),
    )
    assert row is not None
    if row["allowed"]:
        return True, 0
    return False, max(1, math.ceil(float(row["ahead_s"] or 0) - (burst - 1) / rate))


async def merge_preferences(conn: Executor, user_id: str, channels: dict[str, bool], categories: dict[str, bool],
                            set_quiet_hours: bool, quiet_hours: dict[str, str] | None) -> UserRecord | None:
    """Sets the given channels and categories (the others stay) and, when `set_quiet_hours`, the quiet hours
    (None removes them), in one statement: two tabs changing two categories at once both count."""
    row = await conn.fetchrow(
        f"""UPDATE app_user SET updated_at = now(), preferences =
                (preferences - 'quiet_hours')
                || jsonb_build_object('channels', COALESCE(preferences -> 'channels', '{{}}') || $2::jsonb,
                                      'categories', COALESCE(preferences -> 'categories', '{{}}') || $3::jsonb)
                || CASE WHEN NOT $4 THEN jsonb_strip_nulls(jsonb_build_object('quiet_hours',
                                                                              preferences -> 'quiet_hours'))
                        WHEN $5::jsonb IS NULL THEN '{{}}'::jsonb
                        ELSE jsonb_build_object('quiet_hours', $5::jsonb) END
            WHERE id = $1 RETURNING {COLUMNS}""",
        user_id, channels, categories, set_quiet_hours, quiet_hours,
    )
    return one(UserRecord, row)
