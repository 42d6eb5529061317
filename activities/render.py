"""Render: load the pinned template version and the recipient, resolve addresses, render subject and body."""

from __future__ import annotations

from typing import Any

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import NOT_FOUND, TEMPLATE_ERROR
from core import templating
from core.emails import check_email
from core.models import Channel, RenderedMessage, RenderInput
from core.recipients import resolve_addresses
from store import templates, users


class RenderActivities:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @activity.defn(name="render")
    async def render(self, inp: RenderInput) -> RenderedMessage:
        user = await users.get(self._pool, inp.user_id) if inp.user_id else None
        if inp.user_id and user is None:
            raise ApplicationError(f"user '{inp.user_id}' does not exist", type=NOT_FOUND, non_retryable=True)
        return await render_for(self._pool, inp, user)


async def render_for(pool: asyncpg.Pool, inp: RenderInput, user: dict[str, Any] | None) -> RenderedMessage:
    """The message for this (already loaded) user, or for raw addresses when `user` is None."""
    template = await templates.get(pool, inp.template, inp.template_version, include_deleted=True)
    return await render_with(inp, template, user)


async def render_with(inp: RenderInput, template: dict[str, Any] | None,
                      user: dict[str, Any] | None) -> RenderedMessage:
    """The message from an already loaded template version (None: it does not exist) and user."""
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
    try:
        rendered = await templating.render_async(template["subject"], template["body"],
                                                 templating.context_for(inp.data, user), template["html"])
    except templating.TemplateError as exc:
        raise ApplicationError(exc.message, type=TEMPLATE_ERROR, non_retryable=True) from exc
    return RenderedMessage(subject=rendered.subject, body=rendered.body, addresses=addresses,
                           html=rendered.html)
