"""A delivery to a suppressed address is skipped without a send, on the time-skipping server: the deliver
activity refuses it, the workflow (behind SUPPRESSION_PATCH) skips it instead of dead-lettering it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from core.secrets import new_webhook_secret
from core.settings import Settings
from store import inbox, suppressions
from tests.workflows.conftest import Handle, Harness
from tests.workflows.test_long_lives import patches_of
from worker import herald_worker
from workflows.notification.versions import SUPPRESSION_PATCH


async def _start_suppressed(harness: Harness, channels: list[str], **kwargs: object) -> tuple[str, Handle]:
    """A notification due in an hour, whose user's inbox is suppressed meanwhile."""
    due = await harness.env.get_current_time() + timedelta(hours=1)
    nid, handle = await harness.start(channels=channels, send_at=due, **kwargs)  # type: ignore[arg-type]
    await suppressions.add(harness.pool, channel="in_app", address=(await harness.row(nid))["user_id"],
                           reason="asked by support", source="api")
    return nid, handle


async def _patch_markers(harness: Harness, workflow_id: str) -> list[str]:
    return patches_of(await harness.client.get_workflow_handle(workflow_id).fetch_history())


async def test_every_address_suppressed_ends_skipped_with_the_reason(harness: Harness) -> None:
    nid, handle = await _start_suppressed(harness, ["in_app"], priority="otp")
    state = await handle.result()
    assert state.status == "skipped"
    row = await harness.row(nid)
    [delivery] = row["deliveries"]
    assert (row["status"], delivery["status"], delivery["attempts"]) == ("skipped", "skipped", 0)
    assert delivery["last_error"].startswith("suppressed:")
    last = row["timeline"][-1]
    assert last["event"] == "skipped" and last["detail"].startswith("suppressed:") and "asked by support" in \
        last["detail"]
    assert await inbox.get_item(harness.pool, row["user_id"], nid) is None  # nothing was sent
    assert await harness.pool.fetchval("SELECT count(*) FROM dead_letter WHERE notification_id = $1", nid) == 0
    assert SUPPRESSION_PATCH in await _patch_markers(harness, handle.id)


async def test_the_other_channels_still_go_and_no_marker_is_written_without_a_suppression(harness: Harness) -> None:
    nid, handle = await _start_suppressed(harness, ["in_app", "sim"], to={"sim": "ok"})
    assert (await handle.result()).status == "delivered"
    row = await harness.row(nid)
    assert {d["channel"]: d["status"] for d in row["deliveries"]} == {"in_app": "skipped", "sim": "delivered"}
    assert row["timeline"][-1]["detail"].endswith("skipped as suppressed: in_app")

    _, plain = await harness.start(channels=["in_app"])
    assert (await plain.result()).status == "delivered"
    assert await _patch_markers(harness, plain.id) == []


async def test_a_queued_delivery_to_a_suppressed_address_is_skipped_too(harness: Harness) -> None:
    """A channel with a rate limit is delivered by a regular activity on its own task queue: the same refusal
    reaches the workflow wrapped in an ActivityError, and is skipped the same way."""
    settings = Settings(HERALD_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}", HERALD_WEBHOOK_SECRET=new_webhook_secret(),
                        HERALD_WORKFLOW_SANDBOX=True, HERALD_RATE_LIMITS="in_app=50")
    async with herald_worker(harness.client, harness.pool, settings):
        queued = Harness(harness.env, harness.client, harness.pool, settings)
        nid, handle = await _start_suppressed(queued, ["in_app"])
        assert (await handle.result()).status == "skipped"
        history = await handle.fetch_history()
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert scheduled == ["deliver"]  # the queued path: a regular activity
    row = await harness.row(nid)
    assert row["deliveries"][0]["status"] == "skipped"
    assert row["timeline"][-1]["detail"].startswith("suppressed:")
    attempts = await harness.pool.fetchval("SELECT count(*) FROM delivery_attempt WHERE notification_id = $1", nid)
    assert attempts == 0
