"""The workflow's bookkeeping: its short PostgreSQL-only steps, its read-model records, its status attribute.

Every status change goes through `transition` (or `finish`, which ends the unsent deliveries with it): the
state changes, the NotificationStatus search attribute follows, and the change is recorded with its timeline
event. Steps run as local activities, or as regular ones on the REGULAR path (versions.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.record import RecordActivities
    from core.models import DeadLetterResolution, Status
    from core.temporal import STATUS_KEY

from workflows.notification.state import Notification
from workflows.notification.versions import StepsPath

# Bookkeeping activities talk only to PostgreSQL: retry them until it answers, never give up on a write.
_STORE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30))
_STORE_TIMEOUT = timedelta(seconds=30)


class Steps:
    """One run's bookkeeping, on the steps path `run` chooses before any step runs."""

    def __init__(self, notification: Notification) -> None:
        self._n = notification
        self._path: StepsPath | None = None

    def choose(self, path: StepsPath) -> None:
        self._path = path

    @property
    def chosen(self) -> bool:
        """Run has started and chosen its path: an update in the workflow's first task comes before run."""
        return self._path is not None

    @property
    def path(self) -> StepsPath:
        assert self._path is not None, "run chooses the steps path before any step"
        return self._path

    async def run(self, fn: Callable[..., Any], arg: Any, non_retryable: Sequence[str] = ()) -> Any:
        """One short PostgreSQL-only step: a local activity, or a regular one on the REGULAR path.

        Retried until PostgreSQL answers, unless it fails with one of the `non_retryable` error types.
        """
        policy = replace(_STORE_RETRY, non_retryable_error_types=list(non_retryable)) if non_retryable \
            else _STORE_RETRY
        if self.path.local:
            return await workflow.execute_local_activity_method(fn, arg, start_to_close_timeout=_STORE_TIMEOUT,
                                                                retry_policy=policy)
        return await workflow.execute_activity_method(fn, arg, start_to_close_timeout=_STORE_TIMEOUT,
                                                      retry_policy=policy)

    async def record(self, event: str, detail: str, data: dict[str, Any] | None = None) -> None:
        change = self._n.change(event, detail, workflow.now(), data)
        # Shielded: a workflow cancellation must not stop the record of that very cancellation.
        await asyncio.shield(asyncio.ensure_future(self.run(RecordActivities.record_status, change)))

    async def transition(self, status: Status, event: str, detail: str, record: bool = True) -> None:
        self._n.set_status(status)
        self.publish_status()
        if record:
            await self.record(event, detail)

    async def finish(self, status: Status, event: str, detail: str, record: bool = True) -> None:
        """The notification ends as `status`."""
        self._n.end_unsent(status)
        await self.transition(status, event, detail, record)

    def publish_status(self) -> None:
        """Brings the NotificationStatus search attribute up to the state, if it lags (FUSED_STEPS_PATCH)."""
        status = self._n.take_unpublished_status()
        if status is not None:
            workflow.upsert_search_attributes([STATUS_KEY.value_set(str(status))])

    async def resolve(self, notification_id: str, resolution: str) -> None:
        """Marks the notification's dead letters as resolved: retried, discarded, canceled or expired."""
        await self.run(
            RecordActivities.resolve_dead_letter,
            DeadLetterResolution(notification_id=notification_id, resolution=resolution, at=workflow.now()),
        )

    async def after_updates(self) -> None:
        """Lets accepted updates finish recording, so the read model's timeline keeps the workflow's order."""
        if self._n.updates_running:
            await workflow.wait_condition(lambda: self._n.updates_running == 0)

    async def wait_unless_canceled(self, delay: timedelta) -> bool:
        """A durable timer (it survives worker and server restarts) that a cancel ends early; True if it did."""
        try:
            await workflow.wait_condition(lambda: self._n.cancel_requested, timeout=delay)
        except TimeoutError:
            pass
        return self._n.cancel_requested
