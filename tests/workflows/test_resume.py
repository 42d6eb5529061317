"""Reset and resume: a retry re-runs a dead-lettered notification from its failed channel only, keeping the
history of the earlier attempts (the `retry` signal, API and DLQ retry all take this path)."""

from __future__ import annotations

from core.models import NotificationState
from store import inbox, notifications
from tests.workflows.conftest import Harness


async def test_a_retry_reruns_only_the_failed_channel_and_keeps_earlier_attempts(harness: Harness) -> None:
    nid, handle = await harness.start(channels=["in_app", "sim"], to={"sim": "flaky:3"})
    parked = await harness.wait_for(handle, "dead_lettered")
    assert {d.channel: (d.status, d.attempts) for d in parked.deliveries} == {
        "in_app": ("delivered", 1), "sim": ("dead_lettered", 3)}

    await handle.signal("retry")
    result: NotificationState = await handle.result()
    assert result.status == "delivered"
    assert {d.channel: (d.status, d.attempts) for d in result.deliveries} == {
        "in_app": ("delivered", 1), "sim": ("delivered", 4)}
    # The provider calls: in_app once (not again on the retry), sim's three failures kept, then its fourth.
    log = await notifications.attempt_log(harness.pool, nid)
    assert [(a.channel, a.attempt, a.outcome) for a in log] == [
        ("in_app", 1, "delivered"), ("sim", 1, "failed"), ("sim", 2, "failed"), ("sim", 3, "failed"),
        ("sim", 4, "delivered")]
    row = await harness.row(nid)
    items = await inbox.list_items(harness.pool, row["user_id"], unread_only=False, after=None, limit=5)
    assert len(items) == 1  # the in-app message was not sent a second time
    # The timeline keeps the first round, the dead letter and the retry in order.
    events = [e["event"] for e in row["timeline"]]
    assert events[0] == "accepted" and events[-1] == "delivered"
    assert events.index("dead_lettered") < len(events) - 1 - events[::-1].index("processing")
    dlq = await harness.pool.fetch("SELECT channel, attempts, resolution FROM dead_letter WHERE notification_id = $1",
                                   nid)
    assert [(d["channel"], d["attempts"], d["resolution"]) for d in dlq] == [("sim", 3, "retried")]
