"""A user's own inbox feed (`/v1/me/...`): states, snooze, action clicks, and the live stream of items and counts.

The caller is already known to be the user (a user token or a customer-signed JWT names exactly one user).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from core.errors import Problem, not_found
from core.models import SnoozeInput
from core.settings import Settings
from core.temporal import is_outage
from core.workflow_ids import snooze_workflow_id
from core.workflow_options import WORKFLOW_TASK_TIMEOUT
from services import inbox, starting
from store import feed
from store.feed import FeedCounts as FeedCounts
from store.feed import FeedItemRecord as FeedItemRecord
from store.inbox_feed import FeedSignal, InboxFeed

if TYPE_CHECKING:
    from store.db import Executor

log = logging.getLogger("herald.feed")

SNOOZE_WORKFLOW = "SnoozeWorkflow"  # started by name: workflows sit above the services
STATUSES = ("unread", "unseen", "archived")
CHANGES = tuple(feed.CHANGES)


async def page(db: Executor, user_id: str, *, status: str | None, category: str | None,
               after: tuple[datetime, str] | None, limit: int) -> list[FeedItemRecord]:
    return await feed.list_items(db, user_id, status=status, category=category, after=after, limit=limit)


async def counts(db: Executor, user_id: str) -> FeedCounts:
    return await feed.counts(db, user_id)


async def item(db: Executor, user_id: str, notification_id: str) -> FeedItemRecord:
    found = await feed.get_item(db, user_id, notification_id)
    if found is None:
        raise not_found("inbox item", notification_id)
    return found


async def change(pool: asyncpg.Pool, temporal: Client, user_id: str, notification_id: str,
                 what: str) -> FeedItemRecord:
    """One of `CHANGES` on one item (idempotent); 404 when the user has no such item."""
    if not await feed.change(pool, user_id, notification_id, what):
        raise not_found("inbox item", notification_id)
    if what == "read":
        await starting.signal_read(pool, temporal, [notification_id])
    return await item(pool, user_id, notification_id)


async def change_all(pool: asyncpg.Pool, temporal: Client, user_id: str, what: str) -> None:
    """Marks every item in the feed `seen` or `read`."""
    changed = await feed.change_all(pool, user_id, what)
    if what == "read":
        await starting.signal_read(pool, temporal, changed)


async def snooze(pool: asyncpg.Pool, temporal: Client, settings: Settings, user_id: str, notification_id: str,
                 until: datetime) -> FeedItemRecord:
    """Hides the item until `until` and starts the workflow whose timer brings it back then."""
    if not await feed.snooze(pool, user_id, notification_id, until):
        raise not_found("inbox item", notification_id)
    try:
        await temporal.start_workflow(
            SNOOZE_WORKFLOW, SnoozeInput(notification_id=notification_id, until=until),
            id=snooze_workflow_id(notification_id, int(until.timestamp() * 1000)), task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # The same snooze again after it woke the item snoozes it again, so it must run again.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE, task_timeout=WORKFLOW_TASK_TIMEOUT)
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        # The item is hidden but nothing will push it back: the feed still shows it once its time has passed,
        # and a repeat of the request starts the timer.
        raise Problem(503, "temporal_unavailable", f"the snooze is stored but its timer could not be started: "
                      f"{exc}; repeat the request", {"notification_id": notification_id},
                      headers={"Retry-After": "5"}) from exc
    return await item(pool, user_id, notification_id)


async def click(db: Executor, user_id: str, notification_id: str, index: int) -> str:
    """Records a click on action `index` (status webhooks get `notification.action`); the action's URL."""
    url = await feed.click(db, user_id, notification_id, index)
    if url is None:
        if await feed.get_item(db, user_id, notification_id) is None:
            raise not_found("inbox item", notification_id)
        raise not_found("action", str(index))
    return url


def item_json(record: FeedItemRecord) -> dict[str, Any]:
    """An item as `/v1/me/feed` shows it."""
    def at(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"notification_id": record.notification_id, "subject": record.subject, "body": record.body,
            "category": record.category, "created_at": record.created_at.isoformat(),
            "seen_at": at(record.seen_at), "read_at": at(record.read_at), "archived_at": at(record.archived_at),
            "snoozed_until": at(record.snoozed_until), "actions": record.actions}


async def events(inbox_feed: InboxFeed, db: Executor, user_id: str,
                 alive: Callable[[], Awaitable[bool]] | None = None) -> AsyncIterator[str]:
    """Server-Sent Events of the user's feed: the counts first, then each new or changed item with the counts
    after it. A client that reconnects reads the feed again: the stream does not replay. `alive` is asked at
    every heartbeat whether the caller may still listen; the stream ends when it says no."""
    async with inbox_feed.subscribe(user_id) as queue:
        yield f"retry: 2000\n{await _counts_event(db, user_id)}"
        async for signal in inbox.signals(queue, alive):
            if signal is None:
                yield ": keep-alive\n\n"
                continue
            event = await _shared_event(db, user_id, signal)
            if event is not None:
                yield event


# The event of each recent announcement, made once for all the streams of its user in this process (a user with
# many open tabs costs two reads per change, not two per tab).
_EVENTS: dict[tuple[str, int], asyncio.Task[str | None]] = {}
_EVENTS_KEPT = 1000


async def _shared_event(db: Executor, user_id: str, signal: FeedSignal) -> str | None:
    key = (user_id, signal.seq)
    task = _EVENTS.get(key)
    if task is None:
        task = asyncio.ensure_future(_item_event(db, user_id, signal))
        _EVENTS[key] = task
        while len(_EVENTS) > _EVENTS_KEPT:
            del _EVENTS[next(iter(_EVENTS))]
    # Shielded: a stream that closes while waiting must not cancel the others' event.
    return await asyncio.shield(task)


async def _item_event(db: Executor, user_id: str, signal: FeedSignal) -> str | None:
    found = await feed.get_item(db, user_id, signal.notification_id)
    if found is None:
        return None
    now_counts = await feed.counts(db, user_id)
    payload = {"type": "item", "new": not signal.changed, "item": item_json(found),
               "unread_count": now_counts.unread_count, "unseen_count": now_counts.unseen_count}
    return f"id: {found.notification_id}\ndata: {json.dumps(payload)}\n\n"


async def _counts_event(db: Executor, user_id: str) -> str:
    now_counts = await feed.counts(db, user_id)
    return "data: " + json.dumps({"type": "counts", "unread_count": now_counts.unread_count,
                                  "unseen_count": now_counts.unseen_count}) + "\n\n"
