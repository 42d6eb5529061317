"""Integrations: the stored providers (their secret fields sealed by the caller), and each one's shared pace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.records import many, one

if TYPE_CHECKING:
    from store.db import Executor

NOTIFY_CHANNEL = "herald_integrations"
_COLUMNS = "id, channel, provider, config, sealed, key_id, priority, rate_per_s, active, created_at, updated_at"


@dataclass(frozen=True)
class IntegrationRecord:
    id: str
    channel: str
    provider: str
    config: dict[str, Any]  # the non-secret fields
    sealed: bytes | None  # the secret fields, sealed under `key_id`
    key_id: str | None
    priority: int
    rate_per_s: float | None
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class NewIntegration:
    id: str
    channel: str
    provider: str
    config: dict[str, Any]
    sealed: bytes | None
    key_id: str | None
    priority: int
    rate_per_s: float | None
    active: bool


async def insert(conn: Executor, new: NewIntegration) -> IntegrationRecord | None:
    """The stored integration, or None when one with this id exists."""
    row = await conn.fetchrow(
        f"""INSERT INTO integration (id, channel, provider, config, sealed, key_id, priority, rate_per_s, active)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}""",
        new.id, new.channel, new.provider, new.config, new.sealed, new.key_id, new.priority, new.rate_per_s,
        new.active)
    return one(IntegrationRecord, row)


async def get(conn: Executor, integration_id: str) -> IntegrationRecord | None:
    return one(IntegrationRecord, await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM integration WHERE id = $1", integration_id))


async def list_all(conn: Executor) -> list[IntegrationRecord]:
    """Every stored integration, in the order a channel tries them: by channel, then priority, then id."""
    return many(IntegrationRecord, await conn.fetch(
        f"SELECT {_COLUMNS} FROM integration ORDER BY channel, priority, id"))


async def replace(conn: Executor, new: NewIntegration) -> IntegrationRecord | None:
    """Writes every field of an existing integration (the caller merged the change); None if it is gone."""
    row = await conn.fetchrow(
        f"""UPDATE integration SET config = $2, sealed = $3, key_id = $4, priority = $5, rate_per_s = $6,
                   active = $7, updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        new.id, new.config, new.sealed, new.key_id, new.priority, new.rate_per_s, new.active)
    return one(IntegrationRecord, row)


async def delete(conn: Executor, integration_id: str) -> bool:
    deleted = await conn.fetchval("DELETE FROM integration WHERE id = $1 RETURNING 1", integration_id)
    await conn.execute("DELETE FROM integration_pace WHERE integration_id = $1", integration_id)
    return deleted is not None


async def take_slot(conn: Executor, integration_id: str, rate_per_s: float, max_wait_s: float) -> float | None:
    """Reserves this integration's next send slot, shared by every worker: the seconds to wait until it, or None
    when the next free slot is more than `max_wait_s` away (nothing is reserved then).

    Slots are 1/rate apart and taken in the order asked: a send starts at the later of now and the previous
    slot's end, which then moves one interval on. One statement, so two workers never take the same slot.
    """
    wait: float | None = await conn.fetchval(
        """INSERT INTO integration_pace AS p (integration_id, next_at)
           VALUES ($1, clock_timestamp() + make_interval(secs => 1.0 / $2))
           ON CONFLICT (integration_id) DO UPDATE
               SET next_at = greatest(p.next_at, clock_timestamp()) + make_interval(secs => 1.0 / $2)
               WHERE greatest(p.next_at, clock_timestamp()) <= clock_timestamp() + make_interval(secs => $3)
           RETURNING greatest(0, extract(epoch FROM p.next_at - make_interval(secs => 1.0 / $2)
                                                    - clock_timestamp()))::float8""",
        integration_id, rate_per_s, max_wait_s)
    return wait
