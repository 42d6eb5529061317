"""Broadcast fan-out: prepare one page of recipients, record progress, cancel what is still open."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import NOT_FOUND
from core.models import BroadcastPage, BroadcastPageInput, BroadcastStartInput, BroadcastStatus, recipient_input
from core.workflow_ids import notification_workflow_id
from services.starting import start_notification_workflow
from store import broadcasts


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
            user_ids = await broadcasts.prepare_page(conn, broadcast, inp.after, inp.limit)
        return BroadcastPage(user_ids=user_ids)

    @activity.defn(name="start_broadcast_page")
    async def start_page(self, inp: BroadcastStartInput) -> int:
        """Starts one NotificationWorkflow per recipient of the page, a few dozen at a time.

        Ids are deterministic (`notification-<broadcast>-<user>`) and a start finds an existing run instead of
        making a second one, so a page started again after a crash or a retry doubles nobody. Starting from
        an activity, not as child workflows, keeps the broadcast's own history at a few events per page.
        """
        b = inp.broadcast
        limit = asyncio.Semaphore(32)
        task_queue = activity.info().task_queue

        async def start(user_id: str) -> None:
            notification = recipient_input(b, user_id)
            async with limit:
                # The API's start, never eager here (see start_notification_workflow); None when started and
                # already finished by an earlier attempt of this page.
                await start_notification_workflow(self._client, notification, task_queue=task_queue)
            activity.heartbeat(user_id)

        await asyncio.gather(*(start(u) for u in inp.user_ids))
        return len(inp.user_ids)

    @activity.defn(name="record_broadcast_status")
    async def record_status(self, status: BroadcastStatus) -> None:
        await broadcasts.set_status(self._pool, status.broadcast_id, status.status, status.recipients)

    @activity.defn(name="cancel_broadcast_recipients")
    async def cancel_recipients(self, broadcast_id: str) -> int:
        """Signals cancel to every recipient not yet final; returns how many were signalled."""
        signalled = 0
        for notification_id in await broadcasts.open_notification_ids(self._pool, broadcast_id):
            activity.heartbeat(notification_id)
            try:
                await self._client.get_workflow_handle(notification_workflow_id(notification_id)).signal("cancel")
                signalled += 1
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # never started, or already closed: nothing to stop
                    raise
        return signalled
