"""Signals are never lost and lives are long: parking keeps every retry and discard, a parked workflow continues
as new before its history grows too long, and an update in flight when the notification ends gets its answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory, WorkflowUpdateStage
from temporalio.worker import Replayer

from activities.record import RecordActivities
from core.models import DataEdit, NotificationState, StatusChange
from core.settings import Settings
from core.temporal import notification_search_attributes
from hosting import workers
from services import dead_letters, starting
from services.starting import workflow_input
from store.notifications import NotificationRecord
from tests.api.conftest import eventually
from tests.workflows.conftest import Handle, Harness
from workflows.notification import NotificationWorkflow
from workflows.notification.versions import HANDLERS_PATCH, PARKING_PATCH

# A short workflow task timeout makes the worker heartbeat a task held by a long local activity within about a
# second (at 80% of it), and so take the signals and updates that arrive meanwhile while the activity still runs.
TASK_TIMEOUT = timedelta(seconds=2)


@dataclass
class Gate:
    """Holds the `record_status` step of one event after its write committed, until the test releases it."""

    event: str = ""
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class GatedRecordActivities(RecordActivities):
    """The worker's record steps, with `record_status` held by the gate of the test that runs."""

    gate = Gate()

    @activity.defn(name="record_status")
    async def record_status(self, change: StatusChange) -> None:
        await super().record_status(change)
        gate = GatedRecordActivities.gate
        if change.event == gate.event and not gate.release.is_set():
            gate.reached.set()
            await gate.release.wait()


@pytest.fixture
async def gate(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gate]:
    """Must come before `harness` in a test's arguments: the harness starts the worker with these steps."""
    gate = GatedRecordActivities.gate = Gate()
    monkeypatch.setattr(workers, "RecordActivities", GatedRecordActivities)
    start_with(monkeypatch, task_timeout=TASK_TIMEOUT)
    yield gate
    gate.release.set()  # never leave the worker's activity waiting at teardown


def start_with(monkeypatch: pytest.MonkeyPatch, task_timeout: timedelta = timedelta(seconds=10),
               **changes: Any) -> None:
    """Harness.start starts its workflows as the API does, but with this task timeout and input changes."""
    async def start(client: Client, settings: Settings, row: NotificationRecord) -> Handle:
        return await client.start_workflow(
            NotificationWorkflow.run, replace(workflow_input(row, settings), **changes), id=row.workflow_id,
            task_queue=settings.task_queue, task_timeout=task_timeout,
            search_attributes=notification_search_attributes(row.status, row.channels, row.priority, row.user_id))

    monkeypatch.setattr(starting, "start", start)


async def held(harness: Harness, gate: Gate) -> None:
    """Advances skipped time (the retry backoffs) until the gated record is being held."""
    for _ in range(120):
        if gate.reached.is_set():
            return
        await harness.env.sleep(timedelta(seconds=1))
    await asyncio.wait_for(gate.reached.wait(), timeout=60)


async def taken_by_a_task(handle: Handle, event_type: EventType.ValueType) -> None:
    """Waits until a workflow task that started after the last `event_type` event completed: the workflow has
    run its handlers for it."""
    async def taken() -> bool:
        events = (await handle.fetch_history()).events
        seen = [i for i, e in enumerate(events) if e.event_type == event_type]
        if not seen:  # the server writes it once the workflow task in flight ends (a heartbeat, here)
            return False
        last = seen[-1]
        return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events[last + 1:])
    await eventually(taken, timeout_s=60, what="a workflow task to take the signal")


async def test_a_retry_the_api_took_while_the_dead_letter_was_being_recorded_is_kept(
        gate: Gate, harness: Harness) -> None:
    gate.event = "dead_lettered"
    nid, handle = await harness.start(channels=["sim"], to={"sim": "flaky:4"}, with_user=False)
    await held(harness, gate)
    # The record committed: the API lists the notification as dead-lettered and takes the retry (202).
    assert await dead_letters.retry(harness.pool, harness.client, [nid]) == 1
    await taken_by_a_task(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    gate.release.set()
    result = await handle.result()
    # Attempt 4 fails (flaky:4), attempt 5 delivers: the retry ran instead of a 14-day parking.
    assert result.status == "delivered" and result.attempts == 5
    timeline = [e["event"] for e in (await harness.row(nid))["timeline"]]
    assert timeline.count("dead_lettered") == 1 and timeline[-1] == "delivered"
    assert "processing" in timeline[timeline.index("dead_lettered"):]


async def test_a_discard_the_api_took_while_the_dead_letter_was_being_recorded_is_kept(
        gate: Gate, harness: Harness) -> None:
    gate.event = "dead_lettered"
    nid, handle = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False)
    await held(harness, gate)
    await dead_letters.discard(harness.pool, harness.client, nid)  # the API answered 204
    await taken_by_a_task(handle, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    gate.release.set()
    assert (await handle.result()).status == "discarded"
    assert (await harness.row(nid))["status"] == "discarded"


async def test_an_update_running_when_the_notification_ends_still_answers_its_caller(
        gate: Gate, harness: Harness) -> None:
    # A missing variable parks the notification unrendered: its data can still be edited while it is parked.
    nid, handle = await harness.start(channels=["sim"], to={"sim": "ok"}, with_user=False,
                                      body="Hello {{ name }}, your code is {{ code }}")
    await harness.wait_for(handle, "dead_lettered")
    gate.event = "edited"
    update = await handle.start_update(NotificationWorkflow.edit_data, DataEdit(data={"name": "Ada", "code": "1"}),
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    await asyncio.wait_for(gate.reached.wait(), timeout=60)
    # The cancel ends the notification while the update is still recording its edit.
    await handle.signal(NotificationWorkflow.cancel)

    async def canceled() -> bool:
        return bool((await harness.row(nid))["status"] == "canceled")
    await eventually(canceled, timeout_s=60, what="the cancel to be recorded")
    gate.release.set()
    answered = await update.result()
    assert answered.status == "canceled"
    assert (await handle.result()).status == "canceled"
    assert "edited" in [e["event"] for e in (await harness.row(nid))["timeline"]]


async def parked_again(harness: Harness, handle: WorkflowHandle[Any, Any], attempts: int) -> NotificationState:
    for _ in range(120):
        # Skipped time first: a query right after continue_as_new would wait for the new run's first task,
        # which the time-skipping server holds until time moves.
        await harness.env.sleep(timedelta(seconds=1))
        state: NotificationState = await handle.query(NotificationWorkflow.status)
        if state.status == "dead_lettered" and state.attempts == attempts:
            return state
    raise AssertionError(f"never parked after attempt {attempts}; last: {state}")


async def test_a_dead_letter_retried_again_and_again_continues_as_new_with_its_state(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small bound for the test (the default is 2,000 events): a retry round and its parking add about 13.
    start_with(monkeypatch, history_limit=60)
    nid, first = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False)
    latest = harness.client.get_workflow_handle_for(NotificationWorkflow.run, first.id)
    first_run = harness.client.get_workflow_handle(first.id, run_id=first.first_execution_run_id)
    await parked_again(harness, latest, attempts=1)
    # The notification as the first run knows it, to compare with what the later runs know.
    before: NotificationState = await latest.query(NotificationWorkflow.status)
    runs = [first.first_execution_run_id]
    rounds = 1
    while len(runs) < 3:  # continued as new twice: a resumed run continues as new too
        assert rounds < 60, "the workflow never continued as new"
        await latest.signal(NotificationWorkflow.retry)
        rounds += 1
        await parked_again(harness, latest, attempts=rounds)
        run_id = (await latest.describe()).run_id
        if run_id != runs[-1]:
            runs.append(run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    now = await latest.describe()
    assert now.id == first.id == f"notification-{nid}" and now.run_id != first.first_execution_run_id
    state: NotificationState = await latest.query(NotificationWorkflow.status)
    assert state.attempts == rounds and state.status == "dead_lettered"
    assert state.last_error == before.last_error and state.deliveries[0].last_error == before.deliveries[0].last_error
    assert (state.id, state.workflow_id, state.channels, state.template, state.template_version, state.priority) == (
        before.id, before.workflow_id, before.channels, before.template, before.template_version, before.priority)
    assert [(d.channel, d.status, d.attempts) for d in state.deliveries] == [("sim", "dead_lettered", rounds)]
    # Signals still reach it: one more retry round, then its retention, counted from its last parking.
    await latest.signal(NotificationWorkflow.retry)
    await parked_again(harness, latest, attempts=rounds + 1)
    # Every run's history, for the replay test (HERALD_RECORD_HISTORIES).
    harness.started.extend(harness.client.get_workflow_handle_for(NotificationWorkflow.run, first.id, run_id=run)
                           for run in [*runs, (await latest.describe()).run_id])
    result = await first.result()  # follows the runs; skips the 14 days
    assert result.status == "dead_lettered" and result.attempts == rounds + 1
    row = await harness.row(nid)
    timeline = row["timeline"]
    assert timeline[-1]["event"] == "expired"
    last_parked = [e["at"] for e in timeline if e["event"] == "dead_lettered"][-1]
    assert (timeline[-1]["at"] - last_parked).total_seconds() == pytest.approx(14 * 86400, abs=5)
    assert [e["event"] for e in timeline].count("dead_lettered") == rounds + 1


def patches_of(history: WorkflowHistory) -> list[str]:
    found = []
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if e.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_patch":
            found.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
    return found


async def test_the_recorded_histories_of_these_paths_replay() -> None:
    """The histories recorded from the tests above (histories/v9-longlived) hold each new path: the parking
    patch, the handlers patch, runs that continued as new and runs that started parked. They replay on today's
    code, as `test_replay.py` replays every version."""
    histories = [WorkflowHistory.from_json(p.stem, p.read_text())
                 for p in sorted((Path(__file__).parent / "histories" / "v9-longlived").glob("*.json"))]
    patches = {patch for h in histories for patch in patches_of(h)}
    assert {PARKING_PATCH, HANDLERS_PATCH} <= patches
    last_events = [h.events[-1].event_type for h in histories]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in last_events
    resumed = [h for h in histories
               if h.events[0].workflow_execution_started_event_attributes.continued_execution_run_id]
    assert resumed, "no run that started parked"
    replayer = Replayer(workflows=[NotificationWorkflow])
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{history.workflow_id}: {result.replay_failure}"
