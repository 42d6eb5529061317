"""Per-delivery leases: at most one attempt of a delivery talks to its provider at any moment.

Times are PostgreSQL's (`now()`), so every worker measures a lease on one clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.db import Executor


async def acquire(conn: Executor, *, notification_id: str, channel: str, holder: str,
                  ttl_s: float) -> float | None:
    """Takes the delivery's lease for `ttl_s` seconds. Returns None when granted; otherwise the seconds left on
    the lease another attempt holds (a floor of 0: it may expire between the two reads)."""
    granted = await conn.fetchval(
        """INSERT INTO delivery_lease (notification_id, channel, holder, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4))
           ON CONFLICT (notification_id, channel) DO UPDATE
               SET holder = excluded.holder, expires_at = excluded.expires_at
               WHERE delivery_lease.expires_at <= now()
           RETURNING holder""",
        notification_id, channel, holder, ttl_s,
    )
    if granted is not None:
        return None
    left = await conn.fetchval(
        """SELECT GREATEST(0, EXTRACT(EPOCH FROM expires_at - now()))::float8 FROM delivery_lease
           WHERE notification_id = $1 AND channel = $2""",
        notification_id, channel,
    )
    return float(left) if left is not None else 0.0


async def release(conn: Executor, *, notification_id: str, channel: str, holder: str) -> None:
    """Ends the lease if this holder still has it (an expired one may have passed to another attempt)."""
    await conn.execute(
        "DELETE FROM delivery_lease WHERE notification_id = $1 AND channel = $2 AND holder = $3",
        notification_id, channel, holder,
    )


async def holder(conn: Executor, notification_id: str, channel: str) -> str | None:
    """Who holds the delivery's lease now, expired or not (for tests and troubleshooting)."""
    value: str | None = await conn.fetchval(
        "SELECT holder FROM delivery_lease WHERE notification_id = $1 AND channel = $2", notification_id, channel)
    return value
