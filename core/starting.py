"""Starting a notification's workflow (or adding it to its digest) from its stored row: the API on accept, the
reconciler for rows whose start was lost (an API process killed between storing and starting)."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from core.durations import window_seconds
from core.models import (
    STEPS_FUSED,
    DigestEvent,
    DigestInput,
    Escalation,
    NotificationInput,
    NotificationState,
    RetryConfig,
    Status,
    Throttle,
)
from core.settings import Settings
from core.workflow_ids import digest_workflow_id
from core.workflow_options import WORKFLOW_TASK_TIMEOUT, notification_start
from providers.registry import chain_names
from workflows.notification import NotificationWorkflow


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
        steps=STEPS_FUSED,
    )


async def start_notification(client: Client, settings: Settings,
                             row: dict[str, Any]) -> WorkflowHandle[NotificationWorkflow, NotificationState] | None:
    """Starts a stored notification's workflow (the API on accept, the reconciler, a digest's close), eagerly
    when HERALD_EAGER_START asks: one notification's first task then runs on this process's own worker."""
    return await start_notification_workflow(client, workflow_input(row, settings), task_queue=settings.task_queue,
                                             status=row["status"], eager=settings.eager_start)


async def start_notification_workflow(client: Client, inp: NotificationInput, *, task_queue: str,
                                      status: str = Status.ACCEPTED, eager: bool = False,
                                      ) -> WorkflowHandle[NotificationWorkflow, NotificationState] | None:
    """Starts the notification's workflow, or finds it already started: never a second one.

    Every client start of a NotificationWorkflow comes here, a broadcast's recipients too
    (activities/broadcast.py), so they all carry the same options (core.workflow_options.notification_start).
    Only `eager` differs: a broadcast page starts hundreds at once, and eagerly they would all take their first
    task on the one worker that runs the page instead of spreading over every worker polling the queue.
    Returns the handle, or None when the workflow had already closed.
    """
    options = notification_start(inp, status)
    try:
        return await client.start_workflow(
            NotificationWorkflow.run, inp, id=options.id, task_queue=task_queue,
            id_conflict_policy=options.id_conflict_policy, id_reuse_policy=options.id_reuse_policy,
            search_attributes=options.search_attributes, priority=options.priority,
            task_timeout=options.task_timeout, request_eager_start=eager,
        )
    except WorkflowAlreadyStartedError:
        return None


def digest_event(row: dict[str, Any]) -> DigestEvent:
    return DigestEvent(notification_id=row["id"], data=row["data"], template=row["template"],
                       template_version=row["template_version"], channels=list(row["channels"]),
                       priority=row["priority"], category=row["category"],
                       window_s=float(window_seconds(row["digest"]["window"])), to=row["recipient"])


async def join_digest(client: Client, settings: Settings, row: dict[str, Any]) -> None:
    """Adds a digest notification to its (user, key) digest: signal-with-start on `digest-<user>-<key>`.

    The running digest takes the event into its window; with none running, the event starts the next one.
    Sending it again is harmless: a run counts each notification once, and a window's close absorbs only
    notifications still waiting.
    """
    # By name: workflows.digest imports activities.digest, which imports this module.
    await client.start_workflow(
        "DigestWorkflow", DigestInput(user_id=row["user_id"], key=row["digest"]["key"]),
        id=digest_workflow_id(row["user_id"], row["digest"]["key"]), task_queue=settings.task_queue,
        start_signal="add", start_signal_args=[digest_event(row)], task_timeout=WORKFLOW_TASK_TIMEOUT)
