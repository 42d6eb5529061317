"""Starting and signalling NotificationWorkflows from the API: the only place the API talks to Temporal."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from core.models import NotificationState
from core.settings import Settings
from core.starting import queued_channels, retry_config, start_notification, workflow_input
from workflows.notification import NotificationWorkflow

__all__ = ["is_outage", "queued_channels", "retry_config", "signal", "start", "workflow_input"]


async def start(client: Client, settings: Settings,
                row: dict[str, Any]) -> WorkflowHandle[NotificationWorkflow, NotificationState] | None:
    """`core.starting.start_notification`, with Temporal being down answered as 503 (the row is stored: a
    repeat of the request, or the reconciler, starts it later)."""
    try:
        return await start_notification(client, settings, row)
    except (RPCError, RuntimeError) as exc:
        if not is_outage(exc):
            raise
        raise ApiError(503, "temporal_unavailable",
                       "the notification is stored but its workflow could not be started; "
                       "repeat the request with the same Idempotency-Key",
                       {"notification_id": row["id"], "reason": str(exc)}, headers={"Retry-After": "5"}) from exc


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


def is_outage(exc: BaseException) -> bool:
    """Temporal not answering: an RPC error, or the lazy client's first connection failing."""
    return isinstance(exc, RPCError) or str(exc).startswith("Failed client connect")
