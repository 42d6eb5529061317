"""New and changed inbox items, pushed: one LISTEN connection per API process fans PostgreSQL notifications out
to the inbox streams that wait for them (migration 006 announces every inserted item on `herald_inbox`,
migration 025 every change of an item's seen, read, archived or snoozed state, marked `change`)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

CHANNEL = "herald_inbox"


@dataclass(frozen=True)
class FeedSignal:
    """One item of the user: new (`changed` False) or changed."""

    notification_id: str
    changed: bool = False
    # Which announcement of this process's listener it is: every stream of the user gets the same one, so they
    # can share the work of answering it.
    seq: int = 0


# Put in a subscriber's queue when items may have been missed (the listening connection dropped, or the
# subscriber fell this far behind): its stream ends, and the client reconnects with Last-Event-ID to catch up.
LOST = FeedSignal("")
QUEUE_SIZE = 1000

log = logging.getLogger("herald.inbox_feed")


class InboxFeed:
    """Subscribers get a signal for each new or changed item of their user, in commit order."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: asyncpg.Connection[Any] | None = None
        self._lock = asyncio.Lock()
        self._subscribers: dict[str, set[asyncio.Queue[FeedSignal]]] = {}
        self._seq = 0

    async def _listen(self) -> None:
        # Connected on first use: an API process nobody streams from holds no extra connection. The connection
        # is its own, not the pool's: pooled connections are not reset and must not keep a LISTEN.
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            conn: asyncpg.Connection[Any] = await asyncpg.connect(self._url)
            await conn.add_listener(CHANNEL, self._on_notify)
            conn.add_termination_listener(self._on_lost)
            self._conn = conn

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        try:
            message = json.loads(str(payload))
            user_id = str(message["user_id"])
            self._seq += 1
            signal = FeedSignal(str(message["notification_id"]), bool(message.get("change", False)), self._seq)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed %s payload", CHANNEL)
            return
        for queue in list(self._subscribers.get(user_id, ())):
            try:
                queue.put_nowait(signal)
            except asyncio.QueueFull:
                self._drop(queue)

    def _on_lost(self, _conn: Any) -> None:
        log.warning("the %s listening connection closed; open streams end and their clients reconnect", CHANNEL)
        self._conn = None
        for queues in list(self._subscribers.values()):
            for queue in list(queues):
                self._drop(queue)

    @staticmethod
    def _drop(queue: asyncio.Queue[FeedSignal]) -> None:
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(LOST)

    @asynccontextmanager
    async def subscribe(self, user_id: str) -> AsyncIterator[asyncio.Queue[FeedSignal]]:
        await self._listen()
        queue: asyncio.Queue[FeedSignal] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.setdefault(user_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(user_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[user_id]

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.remove_termination_listener(self._on_lost)
            await conn.close()
