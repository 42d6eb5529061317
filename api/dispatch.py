"""Starting and signalling NotificationWorkflows from the API: the only place the API talks to Temporal."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from core.models import NotificationState
from core.settings import Settings
from core.starting import join_digest, queued_channels, retry_config, start_notification, workflow_input
from store import notifications
from workflows.notification import NotificationWorkflow

__all__ = ["is_outage", "queued_channels", "retry_config", "signal", "signal_read", "start", "start_digest",
           "update", "workflow_input"]

log = logging.getLogger("herald.api")


async def start(client: Client, settings: Settings,
                row: dict[str, Any]) -> WorkflowHandle[NotificationWorkflow, NotificationState] | None:
    """`core.starting.start_notification`, with Temporal being down answered as 503 (the row is stored: a
    repeat of the request, or the reconciler, starts it later)."""
    try:
        return await start_notification(client, settings, row)
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise _stored_but_not_started(exc, row, "its workflow could not be started") from exc


async def start_digest(client: Client, settings: Settings, row: dict[str, Any]) -> None:
    """`core.starting.join_digest`, with Temporal being down answered as 503. A repeated accept signals again:
    the digest counts each notification once."""
    try:
        await join_digest(client, settings, row)
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise _stored_but_not_started(exc, row, "could not join its digest") from exc


def _stored_but_not_started(exc: Exception, row: dict[str, Any], what: str) -> ApiError:
    """Temporal down after the row was stored: 503, and a repeat with the same key finishes the job."""
    return ApiError(503, "temporal_unavailable",
                    f"the notification is stored but {what}; repeat the request with the same Idempotency-Key",
                    {"notification_id": row["id"], "reason": str(exc)}, headers={"Retry-After": "5"})


async def signal_read(pool: asyncpg.Pool, temporal: Client, notification_ids: list[str]) -> None:
    """Tells the workflows of escalating notifications that their in-app message was read, so they stop waiting.

    Best effort: the read is already stored, and a workflow checks the store before it escalates.
    """
    if not notification_ids:
        return
    for row in await notifications.escalating(pool, notification_ids):
        try:
            await signal(temporal, row["workflow_id"], "read")
        except ApiError:
            log.warning("could not signal read", extra={"notification_id": row["id"]})


async def signal(client: Client, workflow_id: str, name: str, *args: Any) -> bool:
    """Sends a signal; False when the workflow no longer runs (closed after its retention, or never started)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(name, args=list(args))
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return False
        if not is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable", f"could not signal the workflow: {exc}",
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
        raise ApiError(409, code, message, details) from exc
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "workflow_closed", "too late: the notification's workflow has closed") from exc
        if not is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable", f"could not update the workflow: {exc}",
                       headers={"Retry-After": "5"}) from exc
    return state


def is_outage(exc: BaseException) -> bool:
    """Temporal not answering: an RPC error, or the lazy client's first connection failing."""
    return isinstance(exc, RPCError) or str(exc).startswith("Failed client connect")
