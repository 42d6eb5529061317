"""In-flight changes as Temporal Updates: reschedule, send_now and edit_data, on the time-skipping server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from core.models import DataEdit, NotificationState, Reschedule
from store import inbox
from tests.workflows.conftest import Handle, Harness
from worker import herald_worker
from workflows.notification import TOO_LATE


def events(row: dict[str, Any]) -> list[str]:
    return [e["event"] for e in row["timeline"]]


async def refused(handle: Handle, name: str, *args: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(name, *args, result_type=NotificationState)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def test_reschedule_moves_the_send_later_and_then_earlier(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(days=1))
    later = await handle.execute_update("reschedule", Reschedule(send_at=now + timedelta(days=3)),
                                        result_type=NotificationState)
    assert (later.status, later.send_at) == ("scheduled", now + timedelta(days=3))
    assert (await harness.row(nid))["send_at"] == now + timedelta(days=3)
    earlier = await handle.execute_update("reschedule", Reschedule(send_at=now + timedelta(hours=2)),
                                          result_type=NotificationState)
    assert earlier.send_at == now + timedelta(hours=2)
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    # Neither the first time (1 day) nor the second (3 days): the last one, 2 hours.
    assert now + timedelta(hours=2) <= row["delivered_at"] < now + timedelta(hours=2, minutes=1)
    assert events(row) == ["scheduled", "rescheduled", "rescheduled", "processing", "delivered"]


async def test_send_now_delivers_at_once(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(days=7))
    state = await handle.execute_update("send_now", result_type=NotificationState)
    assert state.send_at is not None and state.send_at < now + timedelta(minutes=1)
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert row["delivered_at"] < now + timedelta(minutes=1)
    assert events(row) == ["scheduled", "send_now", "processing", "delivered"]


async def test_edit_data_before_rendering_changes_the_message(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(hours=1), data={"name": "Ada"})
    await handle.execute_update("edit_data", DataEdit(data={"name": "Grace"}), result_type=NotificationState)
    assert (await harness.row(nid))["data"] == {"name": "Grace"}
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    items = await inbox.list_items(harness.pool, row["user_id"], unread_only=False, after=None, limit=5)
    assert [i.body for i in items] == ["Hello Grace"]
    assert events(row) == ["scheduled", "edited", "processing", "delivered"]


async def test_edited_data_repairs_a_render_failure_on_retry(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["in_app"], data={})
    await harness.wait_for(handle, "dead_lettered")
    await handle.execute_update("edit_data", DataEdit(data={"name": "Grace"}), result_type=NotificationState)
    await handle.signal("retry")
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    items = await inbox.list_items(harness.pool, row["user_id"], unread_only=False, after=None, limit=5)
    assert [i.body for i in items] == ["Hello Grace"]


async def test_changes_are_refused_once_too_late(harness: Harness) -> None:
    # Rendered and sent, then parked after the provider refused: too late for every change.
    nid, handle = await harness.start(channels=["sim"], to={"sim": "reject"}, with_user=False)
    await harness.wait_for(handle, "dead_lettered")
    edit = await refused(handle, "edit_data", DataEdit(data={"name": "Grace"}))
    assert edit.type == TOO_LATE and "already rendered" in edit.message
    now = await harness.env.get_current_time()
    late = await refused(handle, "reschedule", Reschedule(send_at=now + timedelta(days=1)))
    assert late.type == TOO_LATE and "no longer waiting" in late.message
    assert (await refused(handle, "send_now")).type == TOO_LATE
    # A refused update leaves no trace: the history and the timeline are as before.
    history = await handle.fetch_history()
    assert not any(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events)
    assert "rescheduled" not in events(await harness.row(nid))


async def test_a_canceled_notification_cannot_be_changed(harness: Harness) -> None:
    now = await harness.env.get_current_time()
    _, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(days=1))
    await handle.signal("cancel")
    cause = await refused(handle, "send_now")
    assert cause.type == TOO_LATE and "canceled" in cause.message
    assert (await handle.result()).status == "canceled"


async def test_an_update_that_arrives_with_the_start_is_accepted(harness: Harness) -> None:
    # No worker on this queue yet: the start and the update reach the workflow in its very first task.
    harness.settings = harness.settings.model_copy(update={"task_queue": f"first-{uuid.uuid4().hex[:8]}"})
    now = await harness.env.get_current_time()
    nid, handle = await harness.start(channels=["in_app"], send_at=now + timedelta(days=1))
    update = asyncio.ensure_future(handle.execute_update(
        "reschedule", Reschedule(send_at=now + timedelta(days=2)), result_type=NotificationState))
    await asyncio.sleep(0.5)
    async with herald_worker(harness.client, harness.pool, harness.settings):
        state = await update
        assert (state.status, state.send_at) == ("scheduled", now + timedelta(days=2))
        assert (await harness.row(nid))["send_at"] == now + timedelta(days=2)
        await handle.terminate("done")
