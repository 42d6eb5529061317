"""The workflow-task slots the outbox starter reads: it may claim only what the worker can start eagerly and run
now, never the slots polls hold while other tasks run (those starts would go through the task queue)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.worker import SlotPermit, SlotReleaseContext

from hosting.slots import WorkflowSlots


@dataclass
class _Used:
    """What the SDK passes to mark_slot_used: the permit (the slot's task info is not read)."""

    permit: SlotPermit


async def _poll(slots: WorkflowSlots) -> SlotPermit:
    # A poll reserves its slot before it asks the server for a task; its context is not read.
    return await asyncio.wait_for(slots.reserve_slot(None), 1)  # type: ignore[arg-type]


def _eager(slots: WorkflowSlots) -> SlotPermit | None:
    """An eager start's first task: a slot reserved without waiting, then used at once."""
    permit = slots.try_reserve_slot(None)  # type: ignore[arg-type]
    if permit is not None:
        slots.mark_slot_used(_Used(permit))  # type: ignore[arg-type]
    return permit


async def test_a_busy_worker_counts_only_the_slots_no_poll_holds() -> None:
    slots = WorkflowSlots(10)
    polls = [await _poll(slots) for _ in range(2)]
    assert slots.startable() == 10  # nothing runs: the polls take at once what cannot start eagerly

    running = [_eager(slots) for _ in range(8)]
    assert all(p is not None for p in running)
    assert slots.free() == 2  # held by the polls, running nothing...
    assert slots.startable() == 0  # ...so a start now would not be eager: nothing to claim
    assert _eager(slots) is None

    first = running[0]
    assert first is not None
    slots.release_slot(SlotReleaseContext(slot_info=None, permit=first))
    assert slots.startable() == 1 and _eager(slots) is not None
    assert slots.startable() == 0

    # A poll that gets a task runs it in the slot it holds.
    slots.mark_slot_used(_Used(polls[0]))  # type: ignore[arg-type]
    assert slots.free() == 1 and slots.startable() == 0


async def test_polls_holding_every_slot_of_an_idle_worker_still_leave_its_outbox_startable() -> None:
    slots = WorkflowSlots(3)
    polls = [await _poll(slots) for _ in range(3)]
    assert slots.startable() == 3

    slots.mark_slot_used(_Used(polls[0]))  # type: ignore[arg-type]
    assert slots.startable() == 0
    slots.release_slot(SlotReleaseContext(slot_info=None, permit=polls[0]))
    assert slots.startable() == 3
