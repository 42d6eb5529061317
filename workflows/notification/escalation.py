"""Escalation: after an in_app delivery, wait for its read; still unread, deliver on the escalation's channels.

The notification stays `delivered` (it was); the escalation shows in its timeline and deliveries.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.errors import NOT_FOUND, TEMPLATE_ERROR
    from activities.record import RecordActivities
    from activities.render import RenderActivities
    from core.models import NotificationInput, RenderedMessage, Status

from workflows.notification import versions
from workflows.notification.delivery import Deliveries, error_message
from workflows.notification.state import Notification
from workflows.notification.steps import Steps


async def escalate(inp: NotificationInput, n: Notification, steps: Steps, deliveries: Deliveries) -> None:
    esc = inp.escalate
    in_app = [d for d in n.state.deliveries if d.channel == "in_app" and d.status == Status.DELIVERED]
    if esc is None or not in_app or not versions.escalates(inp):
        return
    try:
        await workflow.wait_condition(lambda: n.read or n.cancel_requested, timeout=timedelta(seconds=esc.after_s))
    except TimeoutError:
        pass
    except asyncio.CancelledError:
        await steps.record("escalation_canceled", "the workflow was canceled while waiting for the read")
        return
    if n.cancel_requested:
        await steps.record("escalation_canceled", "canceled while waiting for the read")
        return
    # A read without the signal (an outage, the dashboard's inbox) is in the store: it decides.
    if n.read or await steps.run(RecordActivities.is_read, inp.notification_id):
        await steps.record("read", "read in time: no escalation")
        return
    channels = [c for c in esc.to if c not in n.state.channels]
    added = n.add_channels(channels)
    await steps.record("escalating", f"unread after {int(esc.after_s)} s: delivering on {', '.join(channels)}")
    try:
        rendered: RenderedMessage = await steps.run(RenderActivities.render, n.render_input(inp, channels),
                                                    non_retryable=[TEMPLATE_ERROR, NOT_FOUND])
    except FailureError as err:
        # Every other delivery went out or was skipped before the escalation: only the added ones are unsent.
        n.dead_letter_unsent(error_message(err))
        await steps.record("escalation_failed", error_message(err))
        return
    errors = [e for e in await asyncio.gather(*(deliveries.channel(rendered, d) for d in added)) if e]
    n.sum_attempts()
    if errors:
        await steps.record("escalation_failed", errors[0])
    else:
        await steps.record("escalated", f"delivered on {', '.join(channels)}")
