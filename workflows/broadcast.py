"""BroadcastWorkflow: fans one message out to an audience, a page at a time, with flat memory and history.

Each page of recipients is read from PostgreSQL with a keyset cursor and given its notification rows, each with
its start intent in the outbox, from which the workers start a NotificationWorkflow per user, id
`notification-<broadcast>-<user>`: deterministic, so a page prepared again (a replay, a restart, an activity
retry) never doubles anyone. (The `start_broadcast_page` activity, which started them before the outbox, now
only counts the page: the command sequence is unchanged.) The notifications are not awaited: each owns
its own preferences, retries and dead-lettering, and progress is counted from the read model. (Broadcasts
started before the `fan-out-by-activity` patch start them as abandoned child workflows.) After each page the
workflow continues as new with its cursor, so its history stays small at any audience size.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.broadcast import BroadcastActivities
    from core.models import (
        BroadcastInput,
        BroadcastPageInput,
        BroadcastStartInput,
        BroadcastStatus,
        Status,
        recipient_input,
    )
    from core.workflow_options import notification_start
    from workflows.notification import NotificationWorkflow

# From this patch on, an activity starts each page's NotificationWorkflows: a page costs the broadcast's history
# about a dozen events instead of six per recipient, and the notifications start at the speed of client starts.
FAN_OUT_BY_ACTIVITY_PATCH = "fan-out-by-activity"
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
_TIMEOUT = timedelta(seconds=60)


@workflow.defn(name="BroadcastWorkflow")
class BroadcastWorkflow:
    def __init__(self) -> None:
        self._cancel_requested = False
        self._started = 0

    @workflow.signal
    def cancel(self) -> None:
        self._cancel_requested = True

    @workflow.query
    def started(self) -> int:
        return self._started

    @workflow.run
    async def run(self, inp: BroadcastInput) -> int:
        self._started = inp.started
        if inp.cursor is None and inp.started == 0:
            await self._status(inp, "sending")
        cursor = inp.cursor
        for _ in range(inp.pages_per_run):
            if self._cancel_requested:
                break
            page = await workflow.execute_activity_method(
                BroadcastActivities.prepare_page,
                BroadcastPageInput(broadcast_id=inp.broadcast_id, after=cursor, limit=inp.page_size),
                start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY,
            )
            if workflow.patched(FAN_OUT_BY_ACTIVITY_PATCH):
                await workflow.execute_activity_method(
                    BroadcastActivities.start_page, BroadcastStartInput(broadcast=inp, user_ids=page.user_ids),
                    start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(seconds=30),
                    retry_policy=_RETRY)
            else:
                # Before the patch: child workflows, all of a page's in one workflow task (~6 events each).
                await asyncio.gather(*(self._start_child(inp, user_id) for user_id in page.user_ids))
            self._started += len(page.user_ids)
            if len(page.user_ids) < inp.page_size:
                await self._status(inp, "sent")
                return self._started
            cursor = page.user_ids[-1]
        if self._cancel_requested:
            await workflow.execute_activity_method(
                BroadcastActivities.cancel_recipients, inp.broadcast_id,
                start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(seconds=30),
                retry_policy=_RETRY,
            )
            await self._status(inp, "canceled")
            return self._started
        workflow.continue_as_new(replace(inp, cursor=cursor, started=self._started))

    async def _start_child(self, inp: BroadcastInput, user_id: str) -> None:
        notification = recipient_input(inp, user_id)
        # The client start's options (core.workflow_options). Their task timeout is the one these children
        # were always recorded with (Temporal's default), so the command is the one it always was.
        options = notification_start(notification, Status.ACCEPTED)
        try:
            await workflow.start_child_workflow(
                NotificationWorkflow.run, notification, id=options.id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON, id_reuse_policy=options.id_reuse_policy,
                search_attributes=options.search_attributes, priority=options.priority,
                task_timeout=options.task_timeout,
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier run of this page: that recipient already has their notification

    async def _status(self, inp: BroadcastInput, status: str) -> None:
        await workflow.execute_activity_method(
            BroadcastActivities.record_status,
            BroadcastStatus(broadcast_id=inp.broadcast_id, status=status, recipients=self._started),
            start_to_close_timeout=_TIMEOUT, retry_policy=_RETRY,
        )
