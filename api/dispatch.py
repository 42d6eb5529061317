"""Starting and signalling NotificationWorkflows from the API: the only place the API talks to Temporal."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from api.schemas import window_seconds
from core.models import (
    DigestEvent,
    DigestInput,
    Escalation,
    NotificationInput,
    NotificationState,
    RetryConfig,
    Throttle,
    digest_workflow_id,
)
from core.settings import Settings
from core.temporal import notification_search_attributes, task_priority
from providers.registry import chain_names
from store import notifications
from workflows.digest import DigestWorkflow
from workflows.notification import NotificationWorkflow

log = logging.getLogger("herald.api")


def retry_config(settings: Settings) -> RetryConfig:
    return RetryConfig(max_attempts=settings.max_attempts, initial_s=settings.retry_initial_s,
                       backoff=settings.retry_backoff, max_s=settings.retry_max_s,
                       dlq_retention_s=settings.dlq_retention_days * 86400,
                       delivery_timeout_s=settings.delivery_timeout_s)


def queued_channels(settings: Settings, channels: list[str]) -> list[str]:
    """The channels whose deliveries must go through their task queue: those with a rate limit."""
    if not settings.local_deliveries:
        return list(channels)
    limits = settings.channel_rate_limits
    return [c for c in channels if c in limits]


def workflow_input(row: dict[str, Any], settings: Settings) -> NotificationInput:
    escalate = row.get("escalate")
    escalation = Escalation(after_s=float(window_seconds(escalate["after"])), to=list(escalate["to"])) \
        if escalate else None
    channels = list(row["channels"]) + (escalation.to if escalation else [])
    return NotificationInput(
        notification_id=row["id"], channels=list(row["channels"]), template=row["template"],
        template_version=row["template_version"], data=row["data"], user_id=row["user_id"],
        to=row["recipient"], priority=row["priority"], category=row["category"], send_at=row["send_at"],
        retry=retry_config(settings),
        provider_chains={channel: len(names) for channel, names in chain_names(settings).items()
                         if channel in channels},
        queued_channels=queued_channels(settings, channels),
        escalate=escalation,
        throttle=Throttle(limit=row["throttle"]["limit"], period_s=float(window_seconds(row["throttle"]["period"])),
                          mode=row["throttle"]["mode"]) if row.get("throttle") else None,
    )


async def start(client: Client, settings: Settings,
                row: dict[str, Any]) -> WorkflowHandle[NotificationWorkflow, NotificationState] | None:
    """Starts the notification's workflow, or finds it already started: never a second one.

    USE_EXISTING answers a running workflow with its handle; REJECT_DUPLICATE refuses a new run once the
    first one closed. Either way the id, derived from the idempotency key alone, has one execution.
    Returns the handle, or None when the workflow had already closed.
    """
    try:
        return await client.start_workflow(
            NotificationWorkflow.run,
            workflow_input(row, settings),
            id=row["workflow_id"],
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=notification_search_attributes(row["status"], row["channels"], row["priority"],
                                                             row["user_id"]),
            priority=task_priority(row["priority"], row["category"]),
            task_timeout=timedelta(seconds=10),
        )
    except WorkflowAlreadyStartedError:
        return None
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable",
                       "the notification is stored but its workflow could not be started; "
                       "repeat the request with the same Idempotency-Key",
                       {"notification_id": row["id"], "reason": str(exc)}, headers={"Retry-After": "5"}) from exc


async def start_digest(client: Client, settings: Settings, row: dict[str, Any]) -> None:
    """Adds a digest notification to its (user, key) digest: signal-with-start on `digest-<user>-<key>`.

    The running digest takes the event into its window; with none running, the event starts the next one.
    A repeated accept signals again: the digest counts each notification once.
    """
    spec = row["digest"]
    event = DigestEvent(notification_id=row["id"], data=row["data"], template=row["template"],
                        template_version=row["template_version"], channels=list(row["channels"]),
                        priority=row["priority"], category=row["category"],
                        window_s=float(window_seconds(spec["window"])), to=row["recipient"])
    try:
        await client.start_workflow(
            DigestWorkflow.run, DigestInput(user_id=row["user_id"], key=spec["key"]),
            id=digest_workflow_id(row["user_id"], spec["key"]), task_queue=settings.task_queue,
            start_signal="add", start_signal_args=[event], task_timeout=timedelta(seconds=10))
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable",
                       "the notification is stored but could not join its digest; "
                       "repeat the request with the same Idempotency-Key",
                       {"notification_id": row["id"], "reason": str(exc)}, headers={"Retry-After": "5"}) from exc


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


async def signal(client: Client, workflow_id: str, name: str) -> bool:
    """Sends a signal; False when the workflow no longer runs (closed after its retention, or never started)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(name)
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
