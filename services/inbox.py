"""The in-app inbox: who may read and mark which inbox, the items, and the live stream of new ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from core.errors import Problem, not_found
from store import inbox, users
from store.inbox import InboxItemRecord as InboxItemRecord
from store.inbox_feed import LOST, InboxFeed

if TYPE_CHECKING:
    from store.db import Executor

# A comment line this often keeps proxies from closing an idle stream and lets a dead client be noticed.
HEARTBEAT_S = 15.0
CATCH_UP_LIMIT = 500


async def authorize(db: Executor, user_id: str, *, token_user_id: str | None, admin: bool, reader: bool,
                    write: bool) -> None:
    """A user token (`token_user_id`) reaches only its own inbox; `admin` keys any inbox, `read` keys (`reader`)
    read any inbox."""
    if token_user_id is not None:
        # Another user's inbox answers 404, not 403: a token must not learn which user ids exist.
        if token_user_id != user_id:
            raise not_found("user", user_id)
        return
    if not (admin or (not write and reader)):
        needed = "'admin'" if write else "'read' or 'admin'"
        raise Problem(403, "forbidden", f"this key needs the {needed} scope for this request")
    if await users.get(db, user_id) is None:
        raise not_found("user", user_id)


async def items(db: Executor, user_id: str, *, unread_only: bool, after: tuple[datetime, str] | None,
                limit: int) -> list[InboxItemRecord]:
    """The user's items, newest first, after the item `after` names (its creation time and notification id)."""
    return await inbox.list_items(db, user_id, unread_only=unread_only, after=after, limit=limit)


async def unread_count(db: Executor, user_id: str) -> int:
    return await inbox.unread_count(db, user_id)


async def get_item(db: Executor, user_id: str, notification_id: str) -> InboxItemRecord | None:
    return await inbox.get_item(db, user_id, notification_id)


async def mark_read(db: Executor, user_id: str, notification_id: str) -> bool:
    """Marks one item read (idempotent); False when the user has no such item."""
    return await inbox.mark_read(db, user_id, notification_id)


async def mark_all_read(db: Executor, user_id: str) -> list[str]:
    """Marks every unread item read; returns their notification ids."""
    return await inbox.mark_all_read(db, user_id)


async def events(feed: InboxFeed, db: Executor, user_id: str, last_event_id: str | None,
                 alive: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
    """The Server-Sent Events of `user_id`'s inbox, for a caller already authorized: first the items that
    arrived after `last_event_id`, then each new one as it arrives. `alive` is asked at every heartbeat whether
    the caller may still listen; the stream ends when it says no."""
    async with feed.subscribe(user_id) as queue:
        # Subscribed before catching up, so nothing falls between the two; `sent` drops the overlap.
        yield f"retry: 2000\n: inbox stream of {json.dumps(user_id)}\n\n"
        sent: set[str] = set()
        if last_event_id:
            for caught_up in await inbox.items_after(db, user_id, last_event_id, CATCH_UP_LIMIT):
                sent.add(caught_up.notification_id)
                yield await _event(db, user_id, caught_up)
        while True:
            try:
                notification_id = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                if alive is not None and not await alive():
                    return
                yield ": keep-alive\n\n"
                continue
            if notification_id == LOST:
                return  # the client reconnects with Last-Event-ID and catches up
            if notification_id in sent:
                continue
            new_item = await inbox.get_item(db, user_id, notification_id)
            if new_item is not None:
                yield await _event(db, user_id, new_item)


async def _event(db: Executor, user_id: str, item: InboxItemRecord) -> str:
    payload = {"type": "inbox_item", "user_id": user_id, "notification_id": item.notification_id,
               "subject": item.subject, "body": item.body, "created_at": item.created_at.isoformat(),
               "read_at": item.read_at.isoformat() if item.read_at else None, "read": item.read,
               "unread_count": await inbox.unread_count(db, user_id)}
    return f"id: {item.notification_id}\ndata: {json.dumps(payload)}\n\n"
