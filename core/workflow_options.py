"""The options Herald's workflows start with: one value each, shared by client starts and child starts.

A workflow cannot call the client's start functions (services/starting.py, services/broadcasts.py), so the values
both kinds of start must agree on live here, in plain objects any workflow may import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import Priority, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from core.models import BroadcastInput, NotificationInput
from core.temporal import notification_search_attributes, task_priority
from core.workflow_ids import broadcast_workflow_id, notification_workflow_id

# Temporal's own default, written out: every start names it, so a changed server default changes nothing.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=10)

# One execution per id, ever: a start finds the running one (USE_EXISTING) and never runs a closed one again
# (REJECT_DUPLICATE), so a repeated request, a retried page or the reconciler never makes a second workflow.
ID_CONFLICT_POLICY = WorkflowIDConflictPolicy.USE_EXISTING
ID_REUSE_POLICY = WorkflowIDReusePolicy.REJECT_DUPLICATE


@dataclass(frozen=True)
class StartOptions:
    """What a NotificationWorkflow or BroadcastWorkflow starts with, from the client or as a child.

    A child start takes every field but `id_conflict_policy`, which only a client start has.
    """

    id: str
    priority: Priority
    search_attributes: TypedSearchAttributes | None = None  # None: the start sets none (a broadcast)
    id_conflict_policy: WorkflowIDConflictPolicy = ID_CONFLICT_POLICY
    id_reuse_policy: WorkflowIDReusePolicy = ID_REUSE_POLICY
    task_timeout: timedelta = WORKFLOW_TASK_TIMEOUT


def notification_start(inp: NotificationInput, status: str) -> StartOptions:
    """A notification's start: its status (`accepted`, or `scheduled` for a later send) and channels as search
    attributes, its priority and category as the task priority."""
    return StartOptions(
        id=notification_workflow_id(inp.notification_id),
        priority=task_priority(inp.priority, inp.category),
        search_attributes=notification_search_attributes(status, inp.channels, inp.priority, inp.user_id),
    )


def broadcast_start(inp: BroadcastInput) -> StartOptions:
    return StartOptions(id=broadcast_workflow_id(inp.broadcast_id), priority=task_priority(inp.priority,
                                                                                          inp.category))
