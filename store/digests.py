"""Digests in the read model: which of a window's notifications it absorbs, and marking them `digested`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.db import Connection


async def absorbable(conn: Connection, ids: list[str], digest_id: str) -> set[str]:
    """The notifications of `ids` this digest may absorb: those still waiting, and those an earlier attempt of
    the same close already absorbed into it. Locked until the transaction ends, so two closes never share one.
    """
    rows = await conn.fetch(
        """SELECT id FROM notification WHERE id = ANY($1::text[])
               AND (status = 'accepted' OR digest_id = $2) FOR UPDATE""",
        ids, digest_id,
    )
    return {r["id"] for r in rows}


async def mark_digested(conn: Connection, ids: list[str], digest_id: str, at: datetime) -> None:
    newly = await conn.fetch(
        """UPDATE notification SET status = 'digested', digest_id = $2, updated_at = now()
           WHERE id = ANY($1::text[]) AND status = 'accepted' RETURNING id""",
        ids, digest_id,
    )
    absorbed = [r["id"] for r in newly]
    if not absorbed:
        return
    await conn.execute(
        "UPDATE delivery SET status = 'digested', updated_at = now() WHERE notification_id = ANY($1::text[])",
        absorbed,
    )
    await conn.executemany(
        "INSERT INTO notification_event (notification_id, at, event, detail) VALUES ($1, $2, 'digested', $3)",
        [(i, at, f"delivered in digest {digest_id}") for i in absorbed],
    )


async def cancel_waiting(conn: Connection, notification_id: str) -> bool:
    """Cancels a notification still waiting in its digest's window; False once a close has absorbed it.

    The window's close locks the rows it absorbs (`absorbable`) and takes only `accepted` ones: whichever
    commits first wins, so a notification is either canceled or in the digest, never both. The digest
    workflow keeps the event; its close skips it (and sends nothing when nothing is left).
    """
    async with conn.transaction():
        waiting = await conn.fetchval(
            """SELECT 1 FROM notification WHERE id = $1 AND status = 'accepted' AND digest IS NOT NULL
               FOR UPDATE""",
            notification_id,
        )
        if waiting is None:
            return False
        await conn.execute(
            "UPDATE delivery SET status = 'canceled', updated_at = now() WHERE notification_id = $1",
            notification_id,
        )
        await conn.execute(
            """INSERT INTO notification_event (notification_id, at, event, detail)
               VALUES ($1, now(), 'canceled', 'canceled while waiting in its digest')""",
            notification_id,
        )
        # The notification row last: triggers on it see the whole change (its deliveries and timeline).
        await conn.execute("UPDATE notification SET status = 'canceled', updated_at = now() WHERE id = $1",
                           notification_id)
        return True
