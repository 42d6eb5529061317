"""Starting and signalling Herald's notification workflows: a notification's own workflow, or its digest's.

A start comes from a stored row: the API on accept, the reconciler for rows whose start was lost (an API
process killed between storing and starting), a digest's close. `start_notification` and `join_digest` let an
outage raise (an activity retries); `start` and `start_digest` answer it as 503, for a request whose row is
stored. Signals and updates to a running workflow refuse with `Problem` too.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.durations import window_seconds
from core.errors import Problem
from core.models import (
    STEPS_FUSED,
    DigestEvent,
    DigestInput,
    Escalation,
    NotificationInput,
    NotificationState,
    Status,
    Throttle,
)
from core.settings import Settings
from core.starting import queued_channels, retry_config
from core.temporal import is_outage
from core.workflow_ids import digest_workflow_id
from core.workflow_options import WORKFLOW_TASK_TIMEOUT, notification_start
from providers.registry import chain_names
from store import notifications
from store.notifications import NotificationRecord

log = logging.getLogger("herald.api")

# Workflows are started by name: their modules sit above the services (they import the activities that import
# this module).
NOTIFICATION_WORKFLOW = "NotificationWorkflow"
DIGEST_WORKFLOW = "DigestWorkflow"


def workflow_input(row: NotificationRecord, settings: Settings) -> NotificationInput:
    escalate = row.escalate
    escalation = Escalation(after_s=float(window_seconds(escalate["after"])), to=list(escalate["to"])) \
        if escalate else None
    channels = list(row.channels) + (escalation.to if escalation else [])
    return NotificationInput(
        notification_id=row.id, channels=list(row.channels), template=row.template,
        template_version=row.template_version, data=row.data, user_id=row.user_id,
        to=row.recipient, priority=row.priority, category=row.category, send_at=row.send_at,
        retry=retry_config(settings),
        provider_chains={channel: len(names) for channel, names in chain_names(settings).items()
                         if channel in channels},
        queued_channels=queued_channels(settings, channels),
        escalate=escalation,
        throttle=Throttle(limit=row.throttle["limit"], period_s=float(window_seconds(row.throttle["period"])),
                          mode=row.throttle["mode"]) if row.throttle else None,
        steps=STEPS_FUSED,
    )


async def start_notification(client: Client, settings: Settings,
                             row: NotificationRecord) -> WorkflowHandle[Any, NotificationState] | None:
    """Starts a stored notification's workflow (the API on accept, the reconciler, a digest's close), eagerly
    when HERALD_EAGER_START asks: one notification's first task then runs on this process's own worker."""
    return await start_notification_workflow(client, workflow_input(row, settings), task_queue=settings.task_queue,
                                             status=row.status, eager=settings.eager_start)


async def start_notification_workflow(client: Client, inp: NotificationInput, *, task_queue: str,
                                      status: str = Status.ACCEPTED, eager: bool = False,
                                      ) -> WorkflowHandle[Any, NotificationState] | None:
    """Starts the notification's workflow, or finds it already started: never a second one.

    Every client start of a NotificationWorkflow comes here, a broadcast's recipients too (from the outbox,
    services/outbox.py), so they all carry the same options (core.workflow_options.notification_start). Only
    `eager` differs: the outbox starter starts eagerly, each worker only as many as it has free slots.
    Returns the handle, or None when the workflow had already closed.
    """
    options = notification_start(inp, status)
    try:
        return await client.start_workflow(
            NOTIFICATION_WORKFLOW, inp, id=options.id, task_queue=task_queue, result_type=NotificationState,
            id_conflict_policy=options.id_conflict_policy, id_reuse_policy=options.id_reuse_policy,
            search_attributes=options.search_attributes, priority=options.priority,
            task_timeout=options.task_timeout, request_eager_start=eager,
        )
    except WorkflowAlreadyStartedError:
        return None


def digest_of(row: NotificationRecord) -> tuple[str, dict[str, Any]]:
    """A digest notification's user and digest (accept refuses a digest without a user)."""
    assert row.user_id is not None and row.digest is not None, "only a user's digest notification joins a digest"
    return row.user_id, row.digest


def digest_event(row: NotificationRecord) -> DigestEvent:
    _, digest = digest_of(row)
    return DigestEvent(notification_id=row.id, data=row.data, template=row.template,
                       template_version=row.template_version, channels=list(row.channels),
                       priority=row.priority, category=row.category,
                       window_s=float(window_seconds(digest["window"])), to=row.recipient)


async def join_digest(client: Client, settings: Settings, row: NotificationRecord) -> None:
    """Adds a digest notification to its (user, key) digest: signal-with-start on `digest-<user>-<key>`.

    The running digest takes the event into its window; with none running, the event starts the next one.
    Sending it again is harmless: a run counts each notification once, and a window's close absorbs only
    notifications still waiting.
    """
    user_id, digest = digest_of(row)
    await client.start_workflow(
        DIGEST_WORKFLOW, DigestInput(user_id=user_id, key=digest["key"]),
        id=digest_workflow_id(user_id, digest["key"]), task_queue=settings.task_queue,
        start_signal="add", start_signal_args=[digest_event(row)], task_timeout=WORKFLOW_TASK_TIMEOUT)


async def start(client: Client, settings: Settings,
                row: NotificationRecord) -> WorkflowHandle[Any, NotificationState] | None:
    """`start_notification`, with Temporal being down answered as 503 (the row is stored: a
    repeat of the request, or the reconciler, starts it later)."""
    try:
        return await start_notification(client, settings, row)
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise _stored_but_not_started(exc, row, "its workflow could not be started") from exc


async def start_digest(client: Client, settings: Settings, row: NotificationRecord) -> None:
    """`join_digest`, with Temporal being down answered as 503. A repeated accept signals again:
    the digest counts each notification once."""
    try:
        await join_digest(client, settings, row)
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise _stored_but_not_started(exc, row, "could not join its digest") from exc


def _stored_but_not_started(exc: Exception, row: NotificationRecord, what: str) -> Problem:
    """Temporal down after the row was stored: 503, and a repeat with the same key finishes the job."""
    return Problem(503, "temporal_unavailable",
                   f"the notification is stored but {what}; repeat the request with the same Idempotency-Key",
                   {"notification_id": row.id, "reason": str(exc)}, headers={"Retry-After": "5"})


async def signal_read(pool: asyncpg.Pool, temporal: Client, notification_ids: list[str]) -> None:
    """Tells the workflows of escalating notifications that their in-app message was read, so they stop waiting.

    Best effort: the read is already stored, and a workflow checks the store before it escalates.
    """
    if not notification_ids:
        return
    for row in await notifications.escalating(pool, notification_ids):
        try:
            await signal(temporal, row.workflow_id, "read")
        except Problem:
            log.warning("could not signal read", extra={"notification_id": row.id})


async def signal(client: Client, workflow_id: str, name: str, *args: Any) -> bool:
    """Sends a signal; False when the workflow no longer runs (closed after its retention, or never started)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(name, args=list(args))
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return False
        if not is_outage(exc):
            raise
        raise Problem(503, "temporal_unavailable", f"could not signal the workflow: {exc}",
                      headers={"Retry-After": "5"}) from exc
    return True


async def update(client: Client, workflow_id: str, name: str, *args: Any) -> NotificationState:
    """Runs one of the workflow's in-flight-change updates and returns the new state.

    A refusal by the update's validator (too late) and a workflow that has closed both answer 409.
    """
    handle = client.get_workflow_handle(workflow_id)
    try:
        state: NotificationState = await handle.execute_update(name, *args, result_type=NotificationState)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        details = cause.details[0] if isinstance(cause, ApplicationError) and cause.details else None
        code = "too_late" if isinstance(cause, ApplicationError) and cause.type == "TooLate" else "update_refused"
        raise Problem(409, code, message, details) from exc
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            raise Problem(409, "workflow_closed", "too late: the notification's workflow has closed") from exc
        if not is_outage(exc):
            raise
        raise Problem(503, "temporal_unavailable", f"could not update the workflow: {exc}",
                      headers={"Retry-After": "5"}) from exc
    return state
