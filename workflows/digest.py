"""DigestWorkflow: one window of notifications for a (user, key), delivered as one message.

    first event ─> window timer ─> close: absorb the window's notifications, start the digest's notification
    events during the close ─> the next window; none ─> the workflow ends (the next event starts a new one)

Every event arrives by signal-with-start (`add`) on the deterministic id `digest-<user>-<key>`, so the first
event of a window starts the workflow and the others join it; the events live in the workflow's history, so
a worker that dies mid-window loses none of them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.digest import DigestActivities
    from core.models import DigestBatch, DigestEvent, DigestInput, DigestResult

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                     maximum_interval=timedelta(seconds=30))
# Windows per run before continue_as_new, so the history of a busy (user, key) stays small.
WINDOWS_PER_RUN = 100


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    def __init__(self) -> None:
        self._pending: list[DigestEvent] = []
        self._seen: set[str] = set()  # a repeated accept signals again: each notification counts once

    @workflow.signal
    def add(self, event: DigestEvent) -> None:
        if event.notification_id not in self._seen:
            self._seen.add(event.notification_id)
            self._pending.append(event)

    @workflow.query
    def pending(self) -> list[str]:
        """The notifications waiting in the current window, in arrival order."""
        return [e.notification_id for e in self._pending]

    @workflow.run
    async def run(self, inp: DigestInput) -> int:
        """Returns how many digests this run delivered."""
        for event in inp.pending:
            self.add(event)
        delivered = 0
        while True:
            await workflow.wait_condition(lambda: bool(self._pending))
            await workflow.sleep(timedelta(seconds=self._pending[0].window_s))
            # Events that arrive from here on, even while the window is closed, belong to the next window.
            batch, self._pending = self._pending, []
            result: DigestResult = await workflow.execute_activity_method(
                DigestActivities.close_digest, DigestBatch(user_id=inp.user_id, key=inp.key, events=batch),
                start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY)
            delivered += result.digest_id is not None
            if not self._pending:
                # A signal that arrives as the run completes makes the server refuse the completion: the
                # run goes on with it, so no event is left behind in a closed workflow.
                return delivered
            if delivered >= WINDOWS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(DigestInput(user_id=inp.user_id, key=inp.key, pending=self._pending))
