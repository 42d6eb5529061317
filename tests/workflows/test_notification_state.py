"""The notification workflow's state and its transitions (workflows/notification/state.py), without Temporal."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import (
    AudienceDecision,
    DeliverResult,
    NotificationInput,
    Parked,
    RenderedMessage,
    Status,
)
from workflows.notification import state
from workflows.notification.state import Notification

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def accepted(channels: tuple[str, ...] = ("email", "sms", "in_app"), **fields: object) -> Notification:
    inp = NotificationInput(notification_id="n-1", channels=list(channels), template="welcome",
                            template_version=2, data={"name": "Ada"}, user_id="u-1", **fields)  # type: ignore[arg-type]
    return Notification.of(inp)


def statuses(n: Notification) -> dict[str, str]:
    return {d.channel: d.status for d in n.state.deliveries}


def result(attempt: int, provider: str = "smtp") -> DeliverResult:
    return DeliverResult(provider=provider, provider_message_id=f"m-{attempt}", attempt=attempt, delivered_at=NOW)


def test_a_new_notification_is_accepted_with_one_delivery_per_channel() -> None:
    n = accepted(send_at=NOW)
    s = n.state
    assert (s.id, s.workflow_id, s.status, s.send_at) == ("n-1", "notification-n-1", Status.ACCEPTED, NOW)
    assert statuses(n) == {"email": "accepted", "sms": "accepted", "in_app": "accepted"}
    assert n.data == {"name": "Ada"} and not (n.dispatched or n.parking or n.render_started)


def test_a_run_continued_from_a_parked_one_starts_parked_with_all_it_knew() -> None:
    before = accepted()
    before.state.status = Status.DEAD_LETTERED
    rendered = RenderedMessage(subject="s", body="b", addresses={"email": "a@example.test"})
    parked = Parked(state=before.state, data={"name": "Grace"}, until=NOW, rendered=rendered, render_started=True,
                    read=True)
    inp = NotificationInput(notification_id="n-1", channels=["email"], template="welcome", template_version=2,
                            data={"name": "Ada"}, parked=parked)
    n = Notification.of(inp)
    assert n.state is before.state and n.data == {"name": "Grace"} and n.rendered is rendered
    assert n.render_started and n.read and n.dispatched and n.parking and n.parked


def test_retry_and_discard_count_only_while_parked() -> None:
    n = accepted()
    n.ask("retry")
    assert n.action is None, "a stray retry before parking is ignored"
    n.parking = True  # decided to park, still writing the dead letters
    n.ask("discard")
    assert n.action == "discard"
    assert n.unpark() == "discard"
    assert (n.action, n.parking) == (None, False)
    n.state.status = Status.DEAD_LETTERED
    n.ask("retry")
    assert n.unpark() == "retry" and n.unpark() is None


@pytest.mark.parametrize("status", [Status.DELIVERED, Status.CANCELED, Status.DISCARDED, Status.SKIPPED])
def test_no_change_is_accepted_once_the_notification_is_final(status: Status) -> None:
    n = accepted()
    n.state.status = status
    for refusal in (n.refusal_unless_waiting("reschedule"), n.refusal_of_edit()):
        assert refusal is not None and refusal.status == status
    refusal = n.refusal_unless_waiting("send now")
    assert refusal is not None and refusal.message == f"too late to send now: the notification is {status}"


def test_a_requested_cancel_refuses_changes_as_canceled() -> None:
    n = accepted()
    n.cancel_requested = True
    refusal = n.refusal_of_edit()
    assert refusal is not None and (refusal.status, refusal.message) == (
        "canceled", "too late to edit: the notification is canceled")


def test_reschedule_is_refused_once_dispatched_and_edit_once_rendering_started() -> None:
    n = accepted()
    assert n.refusal_unless_waiting("reschedule") is None and n.refusal_of_edit() is None
    n.dispatched = True
    n.state.status = Status.PROCESSING
    refusal = n.refusal_unless_waiting("reschedule")
    assert refusal is not None and "no longer waiting for its send time (it is processing)" in refusal.message
    assert n.refusal_of_edit() is None, "dispatched but not rendered: the data may still change"
    n.render_started = True
    refusal = n.refusal_of_edit()
    assert refusal is not None and "already rendered" in refusal.message and refusal.status == "processing"


def test_moving_send_at_ends_the_current_wait_and_edits_copy_the_data() -> None:
    n = accepted(send_at=NOW)
    later = NOW + timedelta(hours=1)
    n.move_send_at(later)
    assert n.state.send_at == later and n.schedule_changed
    new = {"name": "Grace"}
    n.replace_data(new)
    new["name"] = "changed afterwards"
    assert n.data == {"name": "Grace"}


def test_a_status_is_published_once() -> None:
    n = accepted()
    assert n.take_unpublished_status() is None
    n.set_status(Status.PROCESSING)
    assert n.take_unpublished_status() == "processing"
    assert n.take_unpublished_status() is None


def test_dead_lettering_leaves_sent_and_skipped_deliveries_alone() -> None:
    n = accepted()
    email, sms, in_app = n.state.deliveries
    n.sent(email, result(1))
    sms.status = Status.SKIPPED
    n.dead_letter_unsent("template error")
    assert statuses(n) == {"email": "delivered", "sms": "skipped", "in_app": "dead_lettered"}
    assert (email.last_error, sms.last_error, in_app.last_error) == (None, None, "template error")


def test_an_ending_ends_only_the_unsent_deliveries() -> None:
    n = accepted()
    email, sms, _ = n.state.deliveries
    n.sent(email, result(1))
    sms.status = Status.SKIPPED
    n.end_unsent(Status.CANCELED)
    assert statuses(n) == {"email": "delivered", "sms": "skipped", "in_app": "canceled"}


def test_an_escalations_channels_are_the_only_unsent_ones_after_a_delivery() -> None:
    n = accepted(channels=("in_app",))
    n.sent(n.state.deliveries[0], result(1, "in_app"))
    added = n.add_channels(["sms"])
    assert [d.channel for d in n.state.deliveries] == ["in_app", "sms"] and n.unsent() == added
    n.dead_letter_unsent("no address")
    assert statuses(n) == {"in_app": "delivered", "sms": "dead_lettered"}


def test_the_audience_decision_skips_and_takes_back_channels_but_never_a_delivered_one() -> None:
    n = accepted()
    email, sms, _ = n.state.deliveries
    n.sent(email, result(1))
    sms.status = Status.SKIPPED
    n.apply_decision(AudienceDecision(skipped_channels={"email": "opted out", "in_app": "opted out"}))
    assert statuses(n) == {"email": "delivered", "sms": "accepted", "in_app": "skipped"}
    n.reopen_skipped()
    assert statuses(n) == {"email": "delivered", "sms": "accepted", "in_app": "accepted"}


def test_outcomes_of_a_delivery_and_the_attempts_they_add_up_to() -> None:
    n = accepted()
    email, sms, in_app = n.state.deliveries
    n.sent(email, result(2))
    assert (email.status, email.attempts, email.provider, email.provider_message_id) == (
        "delivered", 2, "smtp", "m-2")
    assert n.failed(sms, 3, "gateway down") == "gateway down"
    assert (sms.status, sms.last_error, n.state.attempts) == ("dead_lettered", "gateway down", 5)
    in_app.attempts = 1
    assert n.canceled(in_app, prior_attempts=4) == "canceled"
    assert (in_app.status, in_app.attempts) == ("canceled", 4)


def test_a_retry_redelivers_only_the_dead_lettered_channels() -> None:
    n = accepted()
    email, sms, _ = n.state.deliveries
    n.sent(email, result(1))
    n.failed(sms, 3, "boom")
    n.retry_dead_letters()
    assert statuses(n) == {"email": "delivered", "sms": "processing", "in_app": "accepted"}


def test_receipts_show_sends_whose_results_were_lost_as_delivered() -> None:
    n = accepted(channels=("email", "sms"))
    email, sms = n.state.deliveries
    n.failed(email, 1, "timeout")
    n.apply_receipts({"email": result(2, "ses")})
    assert (email.status, email.last_error, email.attempts, email.provider) == ("delivered", None, 2, "ses")
    assert sms.status == "accepted" and n.state.attempts == 2 and not n.all_ended
    sms.status = Status.SKIPPED
    assert n.all_ended and n.others_sent_or_skipped(email)


def test_delivered_keeps_the_time_the_last_send_recorded() -> None:
    n = accepted()
    n.state = replace(n.state, last_error="an earlier round failed")
    assert n.mark_delivered(NOW) == "all channels delivered"
    assert (n.state.delivered_at, n.state.last_error) == (NOW, None)
    n.delivered_recorded_at = NOW - timedelta(seconds=5)
    n.cancel_requested = True
    assert n.mark_delivered(NOW) == "all channels delivered (the cancel request came after the send)"
    assert n.state.delivered_at == NOW - timedelta(seconds=5)


def test_a_change_is_a_snapshot_of_the_state() -> None:
    n = accepted(send_at=NOW)
    n.set_status(Status.SCHEDULED)
    change = n.change("rescheduled", "moved", NOW, data={"name": "Grace"})
    assert (change.notification_id, change.status, change.event, change.at, change.send_at, change.data) == (
        "n-1", "scheduled", "rescheduled", NOW, NOW, {"name": "Grace"})
    n.state.deliveries[0].status = Status.DELIVERED
    assert change.deliveries[0].status == "accepted", "later transitions do not rewrite a recorded change"


def test_the_processing_and_delivered_records_written_by_the_fused_steps() -> None:
    n = accepted()
    n.state.deliveries[1].status = Status.SKIPPED  # skipped by an earlier check, opted back in since
    n.state.last_error = "held"
    processing = n.processing_change(NOW)
    assert (processing.status, processing.event, processing.detail) == ("processing", "processing",
                                                                         "delivery started")
    assert [d.status for d in processing.deliveries] == ["accepted"] * 3
    assert n.state.deliveries[1].status == "skipped", "the record is a copy: the state moves on its own"
    delivered = n.delivered_change(NOW)
    assert (delivered.status, delivered.event, delivered.last_error) == ("delivered", "delivered", None)


def test_what_the_render_and_a_continued_run_get() -> None:
    n = accepted()
    n.replace_data({"name": "Grace"})
    inp = NotificationInput(notification_id="n-1", channels=["email"], template="welcome", template_version=2,
                            data={"name": "Ada"}, user_id="u-1", to={"email": "a@example.test"})
    render = n.render_input(inp, ["sms"])
    assert (render.template, render.template_version, render.data, render.channels, render.to) == (
        "welcome", 2, {"name": "Grace"}, ["sms"], {"email": "a@example.test"})
    n.rendered = RenderedMessage(subject="s", body="b")
    n.render_started = n.read = True
    parked = n.parked_until(NOW)
    assert parked == replace(parked, state=n.state, data={"name": "Grace"}, until=NOW, rendered=n.rendered,
                             render_started=True, read=True)


def test_the_state_module_imports_nothing_of_temporal() -> None:
    """Its transitions are plain Python: they run, and are tested, without a workflow around them."""
    tree = ast.parse(Path(state.__file__).read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert [name for name in imported if name.split(".")[0] in ("temporalio", "activities")] == []


def test_suppressed_deliveries_are_skipped_and_say_why_the_notification_went_nowhere() -> None:
    n = accepted(("email", "sms"))
    email, sms = n.state.deliveries
    reason = "suppressed: the email address is on the suppression list (bounced)"
    n.suppressed(email, reason)
    assert statuses(n) == {"email": "skipped", "sms": "accepted"} and email.last_error == reason
    assert not n.all_ended
    n.suppressed(sms, reason.replace("email", "sms"))
    assert n.all_ended
    assert n.suppression() == f"{reason}; {reason.replace('email', 'sms')}"


def test_a_notification_that_went_out_somewhere_is_delivered_naming_the_suppressed_channels() -> None:
    n = accepted(("email", "sms", "in_app"))
    email, sms, in_app = n.state.deliveries
    n.sent(email, result(1))
    n.suppressed(sms, "suppressed: the sms address is on the suppression list (manual)")
    in_app.status = Status.SKIPPED  # a preference, not a suppression
    assert n.suppression() is None
    assert n.mark_delivered(NOW) == "all channels delivered; skipped as suppressed: sms"
    assert accepted(("email",)).mark_delivered(NOW) == "all channels delivered"


def test_channels_skipped_by_preferences_are_not_taken_for_suppressed_ones() -> None:
    n = accepted(("email",))
    n.state.deliveries[0].status = Status.SKIPPED
    assert n.suppression() is None


def test_a_gone_address_bounces_its_delivery_for_good() -> None:
    n = accepted(("push", "sms"))
    push, sms = n.state.deliveries
    gone = "fcm-main: HTTP 404 UNREGISTERED: Requested entity was not found."
    n.bounced(push, 1, gone)
    assert (push.status, push.attempts, push.last_error, n.state.attempts) == ("bounced", 1, gone, 1)
    assert n.unsent() == [sms] and not n.all_ended
    # Neither a preference check nor a redrive reopens it, and the last send does not write the final record.
    n.apply_decision(AudienceDecision(skipped_channels={"push": "opted out"}))
    n.retry_dead_letters()
    assert push.status == "bounced" and not n.others_sent_or_skipped(sms)
    n.suppressed(sms, "suppressed: the sms address is on the suppression list (manual)")
    assert n.all_ended and n.undelivery() == f"push bounced: {gone}"


def test_a_notification_that_went_out_somewhere_is_delivered_naming_the_bounced_channels() -> None:
    n = accepted(("push", "email"))
    push, email = n.state.deliveries
    n.bounced(push, 1, "apns-main: HTTP 410 Unregistered")
    n.sent(email, result(1))
    assert n.all_ended and n.undelivery() is None and n.suppression() is None
    assert n.mark_delivered(NOW) == "all channels delivered; bounced, the address gone: push"


def test_an_undelivered_notification_takes_no_more_changes() -> None:
    n = accepted(("push",))
    n.state.status = Status.UNDELIVERED
    refusal = n.refusal_if_final("edit")
    assert refusal is not None and refusal.status == "undelivered"
