"""Every Temporal workflow id and schedule id Herald makes, one function per kind.

These formats are part of every running workflow and every stored row (`notification.workflow_id`,
`broadcast.workflow_id`): a changed format would orphan what already runs, so each one stays byte for byte
as it is (tests/core/test_workflow_ids.py pins them). No other module spells one of these prefixes.
"""

from __future__ import annotations

NOTIFICATION_PREFIX = "notification-"
BROADCAST_PREFIX = "broadcast-"
DIGEST_PREFIX = "digest-"
STATUS_WEBHOOK_PREFIX = "hook-"
SCHEDULE_PREFIX = "herald-schedule-"
SCHEDULED_FIRE_PREFIX = "scheduled-"
RECONCILE_PREFIX = "reconcile-"
RECONCILE_SCHEDULE_PREFIX = "herald-reconcile-"
RETENTION_PREFIX = "retention-"
RETENTION_SCHEDULE_PREFIX = "herald-retention-"


def notification_workflow_id(notification_id: str) -> str:
    """The NotificationWorkflow of one notification (an API send, a digest, or a broadcast's recipient)."""
    return f"{NOTIFICATION_PREFIX}{notification_id}"


def notification_id_of(workflow_id: str) -> str | None:
    """The notification a NotificationWorkflow id names; None for the id of any other workflow."""
    if not workflow_id.startswith(NOTIFICATION_PREFIX):
        return None
    return workflow_id.removeprefix(NOTIFICATION_PREFIX)


def broadcast_recipient_notification_id(broadcast_id: str, user_id: str) -> str:
    """One recipient's notification of a broadcast: the same on every start of the broadcast's page.

    store/broadcasts.py builds the same id in SQL (`$1 || '-' || p.id`) when it stores a page.
    """
    return f"{broadcast_id}-{user_id}"


def broadcast_workflow_id(broadcast_id: str) -> str:
    return f"{BROADCAST_PREFIX}{broadcast_id}"


def digest_workflow_id(user_id: str, key: str) -> str:
    """One digest workflow per (user, key) at a time; signal-with-start finds it or starts the next window's."""
    return f"{DIGEST_PREFIX}{user_id}-{key}"


def status_webhook_workflow_id(subscription_id: str, notification_id: str) -> str:
    """One StatusWebhookWorkflow per (subscription, notification): it posts that notification's events in order."""
    return f"{STATUS_WEBHOOK_PREFIX}{subscription_id}-{notification_id}"


def temporal_schedule_id(schedule_id: str) -> str:
    """The Temporal Schedule of a stored recurring broadcast."""
    return f"{SCHEDULE_PREFIX}{schedule_id}"


def scheduled_fire_workflow_id(schedule_id: str) -> str:
    """The id a schedule's action gives its ScheduledBroadcastWorkflow; Temporal appends each fire's scheduled
    time (`scheduled-<schedule>-<time>`), so every fire of one time has the same id."""
    return f"{SCHEDULED_FIRE_PREFIX}{schedule_id}"


def reconcile_workflow_id(task_queue: str) -> str:
    """The id the reconciler's schedule gives its ReconcileWorkflow (Temporal appends the fire's time)."""
    return f"{RECONCILE_PREFIX}{task_queue}"


def reconcile_schedule_id(task_queue: str) -> str:
    """The reconciler's Temporal Schedule: one per task queue."""
    return f"{RECONCILE_SCHEDULE_PREFIX}{task_queue}"


def retention_workflow_id(task_queue: str) -> str:
    """The id the retention schedule gives its RetentionWorkflow (Temporal appends the fire's time)."""
    return f"{RETENTION_PREFIX}{task_queue}"


def retention_schedule_id(task_queue: str) -> str:
    """Retention's Temporal Schedule: one per task queue."""
    return f"{RETENTION_SCHEDULE_PREFIX}{task_queue}"
