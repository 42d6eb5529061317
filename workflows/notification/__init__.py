"""The notification workflow: one notification's whole life (workflow.py says how the files divide it)."""

from workflows.notification.workflow import TOO_LATE, NotificationWorkflow

__all__ = ["TOO_LATE", "NotificationWorkflow"]
