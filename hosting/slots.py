"""The workflow-task slots of a worker, counted, so the outbox starter claims only what the worker can run now."""

from __future__ import annotations

import asyncio
import threading

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

# How often a poller waiting for a slot looks again: a slot frees when a workflow task ends, a few ms apart.
_WAIT_S = 0.005


class _Permit(SlotPermit):
    used = False


class WorkflowSlots(CustomSlotSupplier):
    """A fixed number of workflow-task slots, like the SDK's own, that says how many starts the worker can take.

    A slot is taken by a poll waiting for a task or by an eager start's first task, and given back when its
    task ends. An eager start needs a slot no one holds: one that finds every slot taken (some by polls that
    wait for a task) goes through the task queue instead, and only a poll brings it back. `startable` counts
    what the outbox starter may claim: the slots no one holds, or, while no slot runs a task, all of them (the
    polls holding them pick up at once what cannot start eagerly). The counts are kept under a lock: the SDK
    may call from its own threads."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._taken = 0
        self._used = 0
        self._lock = threading.Lock()

    def free(self) -> int:
        """The slots not running a task (held by a poll, or by no one)."""
        with self._lock:
            return self.capacity - self._used

    def startable(self) -> int:
        """How many workflows the worker can start now and run at once.

        Counting the slots polls hold would send the starts past them into the task queue while every slot is
        busy, batch after batch: the whole outbox would leave PostgreSQL for Temporal's queue, each start
        dispatched instead of eager, and the worker would take no less than before. While a task runs, only the
        slots no one holds count; with none running, the polls holding slots take the rest from the queue at
        once, so everything counts (a worker whose polls hold every slot still starts its outbox)."""
        with self._lock:
            return self.capacity - (self._taken if self._used else 0)

    def _take(self) -> SlotPermit | None:
        with self._lock:
            if self._taken >= self.capacity:
                return None
            self._taken += 1
            return _Permit()

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        # Polled: release_slot may come from another thread, where an asyncio.Event cannot be set.
        while (permit := self._take()) is None:  # noqa: ASYNC110
            await asyncio.sleep(_WAIT_S)
        return permit

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return self._take()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        with self._lock:
            if isinstance(ctx.permit, _Permit) and not ctx.permit.used:
                ctx.permit.used = True
                self._used += 1

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self._taken -= 1
            if isinstance(ctx.permit, _Permit) and ctx.permit.used:
                ctx.permit.used = False
                self._used -= 1
