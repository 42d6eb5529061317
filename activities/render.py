"""Render: load the pinned template version and the recipient, resolve addresses, render subject and body."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NOT_FOUND, TEMPLATE_ERROR
from core import locales, templating
from core.emails import check_email
from core.errors import Problem
from core.locales import Translatable
from core.models import Channel, RenderedMessage, RenderInput
from core.recipients import Recipient, resolve_addresses
from services import template_parts
from services.template_parts import Composition
from store import notifications, templates


class RenderActivities:
    def __init__(self, pool: asyncpg.Pool, default_locale: str = "en"):
        self._pool = pool
        self._default_locale = default_locale

    @activity.defn(name="render")
    async def render(self, inp: RenderInput) -> RenderedMessage:
        found = await templates.get_for_render(self._pool, inp.template, inp.template_version, inp.user_id,
                                               inp.notification_id)
        if inp.user_id and found.user is None:
            raise ApplicationError(f"user '{inp.user_id}' does not exist", type=NOT_FOUND, non_retryable=True)
        rendered, locale = await render_localized(inp, found.template, found.user, found.requested_locale,
                                                  self._default_locale, await composition_of(self._pool, found))
        await notifications.set_locale(self._pool, inp.notification_id, locale)
        return rendered


async def render_with(inp: RenderInput, template: Translatable | None,
                      user: Recipient | None) -> RenderedMessage:
    """The message from an already loaded template version (None: it does not exist) and user."""
    rendered, _ = await render_localized(inp, template, user)
    return rendered


async def composition_of(pool: asyncpg.Pool, found: templates.ForRender) -> Composition | None:
    """The layout and includes at the versions the notification pinned; a non-retryable error when one is gone
    (a notification that pinned none renders with the latest)."""
    if found.template is None:
        return None
    try:
        return await template_parts.pinned(pool, found.template, found.pins)
    except Problem as exc:
        raise ApplicationError(exc.message, type=NOT_FOUND, non_retryable=True) from exc


async def render_localized(inp: RenderInput, template: Translatable | None, user: Recipient | None,
                           requested_locale: str | None = None, default_locale: str = "en",
                           composition: Composition | None = None) -> tuple[RenderedMessage, str]:
    """The message from an already loaded template version (None: it does not exist) and user, in the locale
    the notification asked for, else the user's, else the default; and the locale whose text it used."""
    if template is None:
        raise ApplicationError(f"template '{inp.template}' version {inp.template_version} does not exist",
                               type=NOT_FOUND, non_retryable=True)
    addresses, missing = resolve_addresses(inp.channels, inp.to, user)
    if missing:
        raise ApplicationError(f"no address for channel(s) {', '.join(missing)}", type=NOT_FOUND,
                               non_retryable=True)
    if Channel.EMAIL.value in addresses:
        # The API checks addresses as they come in; a user record stored before it did may still hold a list.
        try:
            check_email(addresses[Channel.EMAIL.value])
        except ValueError as exc:
            raise ApplicationError(f"the email address {exc}", type=NOT_FOUND, non_retryable=True) from None
    choice = locales.choose(template, requested_locale, user.locale if user else None, default_locale)
    try:
        rendered = await templating.render_async(choice.subject, choice.body, templating.context_for(inp.data, user),
                                                 choice.html, locale=choice.format_locale,
                                                 timezone=user.timezone if user else None,
                                                 parts=template_parts.parts_for(composition, choice.locale))
    except templating.TemplateError as exc:
        raise ApplicationError(exc.message, type=TEMPLATE_ERROR, non_retryable=True) from exc
    return RenderedMessage(subject=rendered.subject, body=rendered.body, addresses=addresses,
                           html=rendered.html), choice.locale
