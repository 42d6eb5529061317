"""Prepare: the audience check, the render and the `processing` record of a due notification, in one step.

These were three local activities, each costing the worker an activation and a round trip through the SDK's
core; together they are one. It covers the common case only: when the user's preferences hold anything back
(quiet hours, a throttle, a skipped channel) it returns the decision alone, renders and writes nothing, and
the workflow takes the step-by-step path.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audience import decide_for
from activities.errors import NOT_FOUND
from activities.render import composition_of, render_localized
from core.models import PrepareInput, PrepareResult
from store import notifications, templates


class PrepareActivities:
    def __init__(self, pool: asyncpg.Pool, default_locale: str = "en"):
        self._pool = pool
        self._default_locale = default_locale

    @activity.defn(name="prepare")
    async def prepare(self, inp: PrepareInput) -> PrepareResult:
        user_id = inp.audience.user_id if inp.audience else inp.render.user_id
        # One read for all three: this step runs for every notification.
        found = await templates.get_for_render(
            self._pool, inp.render.template, inp.render.template_version, user_id, inp.render.notification_id)
        user = found.user
        if user_id and user is None:
            raise ApplicationError(f"user '{user_id}' does not exist", type=NOT_FOUND, non_retryable=True)
        decision = None
        if inp.audience is not None:
            assert user is not None
            decision = await decide_for(self._pool, inp.audience, user)
            held = decision.quiet_until is not None and decision.quiet_until > inp.audience.now
            if decision.skip_reason is not None or held or decision.skipped_channels:
                return PrepareResult(decision=decision)
        try:
            rendered, locale = await render_localized(inp.render, found.template, user, found.requested_locale,
                                                      self._default_locale, await composition_of(self._pool, found))
        except ApplicationError as exc:
            # A template or address error is final: it is recorded after `processing`, as on the step-by-step
            # path, so the timeline reads the same either way. Anything else is retried, with nothing written.
            if exc.non_retryable:
                await self._record(inp)
            raise
        # Written last, so that a retry after a failed read never records `processing` twice; the locale goes in
        # the same statement.
        await self._record(inp, locale)
        return PrepareResult(decision=decision, rendered=rendered)

    async def _record(self, inp: PrepareInput, locale: str | None = None) -> None:
        await notifications.apply_status_change(self._pool, inp.processing, locale=locale)
