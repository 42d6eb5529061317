"""Broadcast fan-out: prepare one page of recipients with their start intents, record progress, cancel what is
still open."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import NOT_FOUND
from core.models import BroadcastPage, BroadcastPageInput, BroadcastStartInput, BroadcastStatus
from core.temporal import PRIORITY_KEYS
from core.workflow_ids import notification_workflow_id
from store import broadcasts

# How often canceling looks again for recipients whose start a worker holds at that moment.
_STARTING_WAIT_S = 0.2


class BroadcastActivities:
    def __init__(self, pool: asyncpg.Pool, client: Client):
        self._pool = pool
        self._client = client

    @activity.defn(name="prepare_broadcast_page")
    async def prepare_page(self, inp: BroadcastPageInput) -> BroadcastPage:
        broadcast = await broadcasts.get(self._pool, inp.broadcast_id)
        if broadcast is None:
            raise ApplicationError(f"broadcast '{inp.broadcast_id}' does not exist", type=NOT_FOUND,
                                   non_retryable=True)
        async with self._pool.acquire() as conn:
            user_ids = await broadcasts.prepare_page(conn, broadcast, inp.after, inp.limit,
                                                     start_queue=activity.info().task_queue,
                                                     start_rank=PRIORITY_KEYS.get(broadcast.priority, 3))
        return BroadcastPage(user_ids=user_ids)

    @activity.defn(name="start_broadcast_page")
    async def start_page(self, inp: BroadcastStartInput) -> int:
        """Nothing left to do: `prepare_page` wrote each recipient's start intent with its notification, and the
        workers start them from the outbox with their free workflow slots, eagerly, as they start single sends.

        The workflow still runs this activity after each page, so its command sequence stays the one recorded.
        A page prepared before intents existed (a broadcast under way across the upgrade) is the reconciler's:
        its notifications are `accepted`, unchecked and not in the outbox (store.notifications.unchecked_starts).
        """
        return len(inp.user_ids)

    @activity.defn(name="record_broadcast_status")
    async def record_status(self, status: BroadcastStatus) -> None:
        await broadcasts.set_status(self._pool, status.broadcast_id, status.status, status.recipients)

    @activity.defn(name="cancel_broadcast_recipients")
    async def cancel_recipients(self, broadcast_id: str) -> int:
        """Cancels every recipient not yet final; returns how many.

        Those whose start still waits in the outbox are canceled there and never start; those a worker is
        starting at this moment are waited for, then signalled with the rest."""
        canceled = await broadcasts.cancel_unstarted_recipients(self._pool, broadcast_id)
        while await broadcasts.recipients_starting(self._pool, broadcast_id):
            activity.heartbeat("waiting for starts in flight")
            await asyncio.sleep(_STARTING_WAIT_S)
            canceled += await broadcasts.cancel_unstarted_recipients(self._pool, broadcast_id)
        signalled = 0
        for notification_id in await broadcasts.open_notification_ids(self._pool, broadcast_id):
            activity.heartbeat(notification_id)
            try:
                await self._client.get_workflow_handle(notification_workflow_id(notification_id)).signal("cancel")
                signalled += 1
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # never started, or already closed: nothing to stop
                    raise
        return canceled + signalled
