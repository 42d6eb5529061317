"""NotificationWorkflow on the time-skipping server: every status transition, backoff, timers and signals."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.baseline_workflows import ShapeWorkflow, nothing
from core.models import NotificationState
from core.temporal import STATUS_KEY, notification_search_attributes
from store import inbox, notifications
from tests.workflows.conftest import Harness
from workflows.notification.delivery import attempt_of


def events(row: dict[str, Any]) -> list[str]:
    return [e["event"] for e in row["timeline"]]


def upserted_statuses(history: WorkflowHistory) -> list[bytes]:
    fields = [e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
              for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    return [f["NotificationStatus"].data for f in fields if "NotificationStatus" in f]


def seconds_between(row: dict[str, Any], first: str, last: str) -> float:
    timeline = row["timeline"]
    at = {e["event"]: e["at"] for e in timeline}
    firsts = [e["at"] for e in timeline if e["event"] == first]
    return float((at[last] - firsts[0]).total_seconds())


async def test_delivers_every_channel_and_records_the_read_model(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim", "in_app"], to={"sim": "ok"})
    result = await handle.result()
    assert result.status == "delivered"
    row = await harness.row(nid)
    assert row["status"] == "delivered" and row["delivered_at"] is not None
    assert {d["channel"]: (d["status"], d["attempts"]) for d in row["deliveries"]} == {
        "sim": ("delivered", 1), "in_app": ("delivered", 1)}
    assert events(row) == ["accepted", "processing", "delivered"]
    items = await inbox.list_items(harness.pool, row["user_id"], unread_only=False, after=None, limit=10)
    assert [(i.notification_id, i.subject, i.body) for i in items] == [(nid, "Subject Ada", "Hello Ada")]
    description = await handle.describe()
    assert description.typed_search_attributes.get(STATUS_KEY) == "delivered"


async def test_a_plain_send_is_two_local_steps_and_one_status_update_in_its_history(harness: Harness) -> None:
    """The fused path (FUSED_STEPS_PATCH, chosen by the input's `steps`): prepare (audience, render,
    `processing`) and deliver (which writes the final record) are the only steps, and the status search
    attribute is written once, at the end; the read model still shows every transition and the delivery's
    outcome. No patch marker, so no upsert of Temporal's own TemporalChangeVersion either: the history is the
    empty workflow's five events plus two markers and one upsert."""
    nid, handle = await harness.start(channels=["in_app"])
    assert (await handle.result()).status == "delivered"
    history = await handle.fetch_history()
    markers = [e.marker_recorded_event_attributes for e in history.events
               if e.HasField("marker_recorded_event_attributes")]
    local_steps = [m for m in markers if m.marker_name == "core_local_activity"]
    assert len(local_steps) == 2, [m.marker_name for m in markers]
    assert upserted_statuses(history) == [b'"delivered"']
    assert [m.marker_name for m in markers].count("core_patch") == 0
    upserts = [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    assert len(upserts) == 1 and len(history.events) == 8, [e.event_type for e in history.events]
    assert (await handle.describe()).typed_search_attributes.get(STATUS_KEY) == "delivered"
    row = await harness.row(nid)
    assert events(row) == ["accepted", "processing", "delivered"]
    assert row["status"] == "delivered" and row["delivered_at"] is not None and row["last_error"] is None
    assert [(d["channel"], d["status"], d["attempts"]) for d in row["deliveries"]] == [("in_app", "delivered", 1)]


async def test_the_bench_shape_yardstick_has_a_plain_sends_history(harness: Harness) -> None:
    """`make bench` bounds Herald by BenchShapeWorkflow: a plain send's history with no work in its steps. The
    bound means something only while both histories are the same events, markers and upserted attributes."""
    _, handle = await harness.start(channels=["in_app"])
    await handle.result()
    herald = await handle.fetch_history()
    queue = f"shape-{uuid.uuid4().hex[:8]}"
    async with Worker(harness.client, task_queue=queue, workflows=[ShapeWorkflow], activities=[nothing],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        shape = await harness.client.start_workflow(
            ShapeWorkflow.run, 1, id=f"shape-{queue}", task_queue=queue,
            search_attributes=notification_search_attributes("accepted", ["in_app"], "transactional", "u"))
        await shape.result()
    bench = await shape.fetch_history()

    def outline(history: WorkflowHistory) -> list[tuple[int, str, list[str]]]:
        return [(e.event_type, e.marker_recorded_event_attributes.marker_name,
                 sorted(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields))
                for e in history.events]

    assert outline(bench) == outline(herald)
    assert upserted_statuses(bench) == upserted_statuses(herald)


async def test_a_send_that_retries_publishes_its_processing_status_while_it_waits(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "flaky:1"}, with_user=False)
    assert (await handle.result()).status == "delivered"
    history = await handle.fetch_history()
    assert upserted_statuses(history) == [b'"processing"', b'"delivered"']
    row = await harness.row(nid)
    # (The attempt log's `retrying` carries PostgreSQL's clock, the others the time-skipping workflow clock.)
    assert sorted(events(row)) == ["accepted", "delivered", "processing", "retrying"]
    assert [(d["status"], d["attempts"], d["provider"]) for d in row["deliveries"]] == [("delivered", 2, "sim")]


@pytest.mark.parametrize(("failures", "expected_wait_s"), [(1, 1.0), (2, 3.0)])
async def test_retries_back_off_exponentially(harness: Harness, failures: int, expected_wait_s: float) -> None:
    # Defaults: initial 1 s, coefficient 2 -> waits of 1 s, then 2 s, measured on the workflow's own clock.
    nid, handle = await harness.start(channels=["sim"], to={"sim": f"flaky:{failures}"}, with_user=False)
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert row["attempts"] == failures + 1
    waited = seconds_between(row, "processing", "delivered")
    assert expected_wait_s <= waited < expected_wait_s + 0.9, waited
    log = await notifications.attempt_log(harness.pool, nid)
    assert [(a.attempt, a.outcome) for a in log] == [
        *[(i + 1, "failed") for i in range(failures)], (failures + 1, "delivered")]
    assert events(row).count("retrying") == failures


async def test_backoff_is_capped_by_the_maximum_interval(harness: Harness) -> None:
    harness.settings = harness.settings.model_copy(update={"max_attempts": 4, "retry_backoff": 10.0,
                                                           "retry_max_s": 5.0})
    nid, handle = await harness.start(channels=["sim"], to={"sim": "flaky:3"}, with_user=False)
    assert (await handle.result()).status == "delivered"
    # Uncapped the waits would be 1 + 10 + 100 s; capped at 5 s they are 1 + 5 + 5.
    waited = seconds_between(await harness.row(nid), "processing", "delivered")
    assert 11.0 <= waited < 12.0, waited


async def test_exhausted_retries_dead_letter_and_a_retry_signal_keeps_counting(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "flaky:4"}, with_user=False)
    parked = await harness.wait_for(handle, "dead_lettered")
    assert parked.attempts == 3 and "flaky failure 3 of 4" in (parked.last_error or "")
    row = await harness.row(nid)
    assert row["status"] == "dead_lettered" and row["attempts"] == 3
    dlq = await notifications.list_dead_letters(harness.pool, channel=None, after=None, limit=500)
    assert [(d.channel, d.attempts) for d in dlq if d.notification_id == nid] == [("sim", 3)]
    assert (await handle.describe()).typed_search_attributes.get(STATUS_KEY) == "dead_lettered"

    await handle.signal("retry")
    # Attempt 4 fails (flaky:4), attempt 5 delivers: the count goes on from the first round.
    result = await handle.result()
    assert result.status == "delivered" and result.attempts == 5
    assert [d.notification_id for d in await notifications.list_dead_letters(
        harness.pool, channel=None, after=None, limit=500)].count(nid) == 0
    assert events(await harness.row(nid))[-3:] == ["dead_lettered", "processing", "delivered"]


async def test_a_permanent_failure_is_not_retried(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False)
    parked = await harness.wait_for(handle, "dead_lettered")
    assert parked.attempts == 1
    assert [a.outcome for a in await notifications.attempt_log(harness.pool, nid)] == ["rejected"]


async def test_discard_ends_a_dead_letter_as_discarded(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False)
    await harness.wait_for(handle, "dead_lettered")
    await handle.signal("discard")
    assert (await handle.result()).status == "discarded"
    row = await harness.row(nid)
    assert row["status"] == "discarded" and row["deliveries"][0]["status"] == "discarded"
    assert (await handle.describe()).typed_search_attributes.get(STATUS_KEY) == "discarded"


async def test_parking_ends_after_the_retention_still_dead_lettered(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "fail"}, with_user=False)
    await harness.wait_for(handle, "dead_lettered")
    result = await handle.result()  # skips the 14 days of parking
    assert result.status == "dead_lettered"
    row = await harness.row(nid)
    assert row["status"] == "dead_lettered" and events(row)[-1] == "expired"
    parked_for = seconds_between(row, "dead_lettered", "expired")
    assert parked_for == pytest.approx(14 * 86400, abs=5)
    # The closed workflow can no longer be retried: it leaves the DLQ listing.
    dlq = await notifications.list_dead_letters(harness.pool, channel=None, after=None, limit=500)
    assert nid not in [d.notification_id for d in dlq]


async def test_send_at_waits_on_a_durable_timer(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(days=7))
    state = await handle.query("status", result_type=NotificationState)
    assert state.status == "scheduled"
    assert (await handle.describe()).typed_search_attributes.get(STATUS_KEY) == "scheduled"
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert row["delivered_at"] >= now + timedelta(days=7)


async def test_cancel_signal_while_scheduled_sends_nothing(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(days=1))
    await handle.signal("cancel")
    assert (await handle.result()).status == "canceled"
    row = await harness.row(nid)
    assert row["status"] == "canceled" and events(row)[-1] == "canceled"
    assert await inbox.list_items(harness.pool, row["user_id"], unread_only=False, after=None, limit=5) == []


async def test_cancelling_the_workflow_ends_it_as_canceled(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(hours=2))
    await handle.cancel()
    with pytest.raises(Exception):  # noqa: B017 - the execution itself ends canceled
        await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert (await harness.row(nid))["status"] == "canceled"


async def test_cancel_while_dead_lettered(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False)
    await harness.wait_for(handle, "dead_lettered")
    await handle.signal("cancel")
    assert (await handle.result()).status == "canceled"
    assert (await harness.row(nid))["status"] == "canceled"


async def test_a_stray_retry_signal_before_parking_is_ignored(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    _, handle = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False,
                                    send_at=now + timedelta(hours=1))
    await handle.signal("retry")  # nothing is parked yet
    await harness.wait_for(handle, "dead_lettered", step=timedelta(minutes=10))
    state = await handle.query("status", result_type=NotificationState)
    assert state.attempts == 1  # the early retry did not trigger a second round


async def test_a_missing_template_variable_dead_letters_without_retrying(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "ok"}, with_user=False,
                                      body="Hello {{ name }}, your code is {{ code }}")
    parked = await harness.wait_for(handle, "dead_lettered")
    assert "'code'" in (parked.last_error or "")
    assert parked.attempts == 0
    assert await notifications.attempt_log(harness.pool, nid) == []  # never reached a provider


async def test_the_status_query_returns_the_notification(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim", "in_app"], to={"sim": "ok"})
    await handle.result()
    state = await handle.query("status", result_type=NotificationState)
    assert (state.id, state.status, sorted(state.channels)) == (nid, "delivered", ["in_app", "sim"])
    assert state.workflow_id == f"notification-{nid}"


def test_attempt_number_is_read_from_the_failure_details() -> None:
    from temporalio.exceptions import ActivityError, RetryState

    err = ActivityError("failed", scheduled_event_id=1, started_event_id=2, identity="w", activity_type="deliver",
                        activity_id="1", retry_state=RetryState.MAXIMUM_ATTEMPTS_REACHED)
    err.__cause__ = ApplicationError("boom", {"attempt": 7})
    assert attempt_of(err, fallback=3) == 7
    err.__cause__ = TimeoutError()
    assert attempt_of(err, fallback=3) == 3
    # A local activity's failure arrives unwrapped.
    assert attempt_of(ApplicationError("boom", {"attempt": 5}), fallback=3) == 5


async def test_cancel_during_retry_backoff_stops_further_attempts(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "fail"}, with_user=False)

    async def first_attempt_logged() -> bool:
        return len(await notifications.attempt_log(harness.pool, nid)) >= 1
    from tests.api.conftest import eventually
    await eventually(first_attempt_logged, what="the first failed attempt")
    await handle.signal("cancel")  # the clock is held: the second attempt is still waiting on its backoff
    result = await handle.result()
    assert result.status == "canceled"
    row = await harness.row(nid)
    assert row["status"] == "canceled" and row["deliveries"][0]["status"] == "canceled"
    assert len(await notifications.attempt_log(harness.pool, nid)) == 1
    assert row["attempts"] == 1
    dlq = await notifications.list_dead_letters(harness.pool, channel=None, after=None, limit=500)
    assert nid not in [d.notification_id for d in dlq]


async def test_a_cancel_that_arrives_during_a_send_that_succeeds_reports_delivered(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["sim"], to={"sim": "slow:1500"}, with_user=False)

    async def processing() -> bool:
        return bool((await harness.row(nid))["status"] == "processing")
    from tests.api.conftest import eventually
    await eventually(processing, what="the send to start")
    await handle.signal("cancel")
    result = await handle.result()
    # The send went through: it must not be hidden behind "canceled".
    assert result.status == "delivered"
    row = await harness.row(nid)
    assert row["status"] == "delivered" and "after the send" in row["timeline"][-1]["detail"]
