"""The gate a due notification passes: the user's preferences, quiet hours and throttle, read when it is due."""

from __future__ import annotations

from enum import Enum

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.audience import AudienceActivities
    from activities.errors import NOT_FOUND, TEMPLATE_ERROR
    from activities.prepare import PrepareActivities
    from core.models import AudienceDecision, AudienceInput, NotificationInput, PrepareInput, PrepareResult, Status

from workflows.notification.delivery import error_message
from workflows.notification.state import Notification
from workflows.notification.steps import Steps


class Verdict(Enum):
    GO = "go"  # send now
    DONE = "done"  # it ended here: skipped, or canceled while held
    ERROR = "error"  # the check itself failed for good (the user was deleted): park with the message


class Gate:
    def __init__(self, inp: NotificationInput, notification: Notification, steps: Steps) -> None:
        self._inp = inp
        self._n = notification
        self._steps = steps

    async def check(self, fused: bool = False) -> tuple[Verdict, str | None]:
        """Decides whether the notification goes now; the message comes with ERROR.

        `fused`: check with `prepare`, which also renders and records `processing` when everything may go
        now (the rendered message is left in `Notification.prepared`).
        """
        inp, n, steps = self._inp, self._n, self._steps
        if inp.user_id is None and not fused:
            return Verdict.GO, None
        while True:
            try:
                if fused:
                    prepared = await self._prepare()
                    if prepared.rendered is not None:
                        n.prepared = prepared.rendered
                        n.reopen_skipped()
                        return Verdict.GO, None
                    assert prepared.decision is not None and inp.user_id is not None
                    decision = prepared.decision
                else:
                    assert inp.user_id is not None
                    decision = await steps.run(AudienceActivities.check_audience,
                                               _audience_input(inp, inp.user_id), non_retryable=[NOT_FOUND])
            except FailureError as err:
                message = error_message(err)
                n.dead_letter_unsent(message)
                return Verdict.ERROR, message
            held = await self._apply(decision)
            if held is None:
                return Verdict.GO, None
            if held:
                return Verdict.DONE, None
            # preferences may have changed during the wait: decide again

    async def _apply(self, decision: AudienceDecision) -> bool | None:
        """Acts on the decision: None to send now, True when the notification ended, False after a hold."""
        n, steps = self._n, self._steps
        n.apply_decision(decision)
        if decision.skip_reason is not None:
            await steps.finish(Status.SKIPPED, "skipped", decision.skip_reason)
            return True
        if decision.quiet_until is not None and decision.quiet_until > workflow.now():
            n.state.send_at = decision.quiet_until
            if decision.hold_reason is not None:
                await steps.transition(Status.SCHEDULED, "throttled", decision.hold_reason)
            else:
                await steps.transition(Status.SCHEDULED, "quiet_hours", "held by the user's quiet hours until "
                                       f"{decision.quiet_until.isoformat()}")
            if await steps.wait_unless_canceled(decision.quiet_until - workflow.now()):
                await steps.finish(Status.CANCELED, "canceled", "canceled during quiet hours")
                return True
            return False
        if decision.skipped_channels:
            await steps.record("channels_skipped", "; ".join(decision.skipped_channels.values()))
        return None

    async def _prepare(self) -> PrepareResult:
        """Audience check, render and the `processing` record in one local activity; it renders and records
        only when everything may go now, else it returns the decision for the step-by-step path."""
        inp, n = self._inp, self._n
        await self._steps.after_updates()  # an accepted edit is recorded before `processing`, as the timeline reads
        processing = n.processing_change(workflow.now())
        n.render_started = True
        try:
            result: PrepareResult = await self._steps.run(
                PrepareActivities.prepare,
                PrepareInput(render=n.render_input(inp, inp.channels), processing=processing,
                             audience=_audience_input(inp, inp.user_id) if inp.user_id is not None else None),
                non_retryable=[TEMPLATE_ERROR, NOT_FOUND])
        except FailureError:
            n.render_started = False  # nothing was rendered: the data may still be corrected
            raise
        if result.rendered is None:
            n.render_started = False
        return result


def _audience_input(inp: NotificationInput, user_id: str) -> AudienceInput:
    return AudienceInput(notification_id=inp.notification_id, user_id=user_id, channels=inp.channels,
                         category=inp.category, priority=inp.priority, now=workflow.now(), to=inp.to,
                         throttle=inp.throttle)
