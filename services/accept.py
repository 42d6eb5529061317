"""Accepting one notification: idempotency, validation, and storage with its start intent, shared by the
single and the bulk endpoint and the dashboard's send page. Workers start the workflow from the outbox
(`services/outbox.py`): accepting touches only PostgreSQL, and goes on while Temporal is down."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from core.errors import Problem, invalid
from core.ids import (
    client_key,
    new_idempotency_key,
    notification_id_for_key,
    request_fingerprint,
)
from core.models import Channel, Priority, Status
from core.recipients import resolve_addresses
from core.settings import Settings
from core.temporal import PRIORITY_KEYS
from core.tracing import current_traceparent
from core.workflow_ids import notification_workflow_id
from providers.registry import chain_names
from providers.sim import SimAddressError, parse_address
from services import template_parts
from services.rendering import render_actions_or_422, render_or_422
from store import notifications, templates
from store.notifications import DeliveryRecord, NotificationRecord

log = logging.getLogger("herald.api")


class _Part(Protocol):
    """A nested part of the request (`digest`, `escalate`, `throttle`), stored as it was given."""

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]: ...


class _Escalation(_Part, Protocol):
    @property
    def to(self) -> list[Channel]: ...


class NotificationRequest(Protocol):
    """A validated request to send one notification (`api.schemas.NotificationCreate`): what accept reads of it.
    The API's schemas validate the request; the service does not import them."""

    # Fields whose types the request's own are exactly; the nested parts below are read-only properties, as the
    # request's fields are subtypes of them.
    user_id: str | None
    to: dict[Channel, str] | None
    template: str
    template_version: int | None
    priority: Priority
    category: str | None
    send_at: datetime | None
    idempotency_key: str | None
    locale: str | None

    @property
    def channels(self) -> list[Channel]: ...
    @property
    def data(self) -> dict[str, Any]: ...
    @property
    def digest(self) -> _Part | None: ...
    @property
    def escalate(self) -> _Escalation | None: ...
    @property
    def throttle(self) -> _Part | None: ...
    @property
    def actions(self) -> Sequence[_Action] | None: ...

    def model_dump(self, *, mode: str = "python", exclude: set[str] | None = None) -> dict[str, Any]: ...


class _Action(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def url(self) -> str: ...


@dataclass(frozen=True)
class Caller:
    """The API key sending: `key` scopes its idempotency keys and owns what it creates."""

    key: str
    is_admin: bool


async def accept(pool: asyncpg.Pool, settings: Settings, body: NotificationRequest,
                 header_key: str | None, caller: Caller) -> tuple[int, NotificationRecord]:
    """Returns (202, notification) when accepted now, (200, notification) for a repeat; raises Problem.

    The idempotency key is scoped to the calling API key, and the row records that key as its creator."""
    if body.user_id is not None and body.to and not caller.is_admin:
        # A user's fields rendered to an address of the caller's choosing would disclose them to anyone.
        raise Problem(403, "forbidden", "'to' together with 'user_id' needs the 'admin' scope: send to the "
                      "user's own addresses, or give 'to' without 'user_id'", {"fields": ["to", "user_id"]})
    key_id = caller.key
    given = header_key or body.idempotency_key
    key = client_key(key_id, given or new_idempotency_key())
    # A field added later and left out changes no fingerprint: a repeat of an older request still matches.
    unset = {name for name in ("locale", "actions") if getattr(body, name) is None}
    fingerprint = request_fingerprint(body.model_dump(mode="json", exclude={"idempotency_key"} | unset))
    notification_id = notification_id_for_key(key)

    # Two round trips for a new notification: one read (template and user), one insert that also writes the
    # start intent. A repeat is found by the insert's conflict, or, when this body no longer validates, by
    # looking for the stored one; its start intent, if still waiting, is the first request's.
    try:
        row = replace(await _validated_row(pool, settings, body, key, fingerprint, notification_id, key_id),
                      legacy_key=given)
    except Problem:
        existing = await notifications.get(pool, notification_id)
        if existing is not None:
            return await _repeat(pool, existing, fingerprint)
        raise
    stored, created = await notifications.insert(pool, row)
    if not created:  # a repeat, or a race with an identical concurrent request
        return await _repeat(pool, stored, fingerprint)
    stored = replace(stored, deliveries=[
        DeliveryRecord(channel=c, status=stored.status, provider=None, attempts=0, provider_message_id=None,
                       last_error=None, confirmed_at=None) for c in stored.channels])
    log.info("accepted", extra={"notification_id": stored.id, "workflow_id": stored.workflow_id,
                                "channel": ",".join(stored.channels), "priority": stored.priority,
                                "status": stored.status})
    return 202, stored


async def _repeat(pool: asyncpg.Pool, existing: NotificationRecord, fingerprint: str) -> tuple[int, NotificationRecord]:
    if existing.request_hash != fingerprint:
        raise Problem(409, "idempotency_conflict",
                      "this idempotency key was already used with a different request body",
                      {"notification_id": existing.id})
    full = await notifications.get_full(pool, existing.id)
    assert full is not None
    return 200, full


async def _validated_row(pool: asyncpg.Pool, settings: Settings, body: NotificationRequest, key: str,
                         fingerprint: str, notification_id: str, key_id: str) -> notifications.NewNotification:
    """Everything that can be known wrong now is refused now, with the field named."""
    available = chain_names(settings)
    unavailable = [c.value for c in body.channels if c.value not in available]
    escalate_to = [c.value for c in body.escalate.to] if body.escalate else []
    if [c for c in escalate_to if c not in available]:
        raise invalid("escalate.to", f"no provider is configured for channel(s) "
                      f"{', '.join(c for c in escalate_to if c not in available)}", code="channel_unavailable")
    if unavailable:
        raise invalid("channels", f"no provider is configured for channel(s) {', '.join(unavailable)}; "
                      f"available: {', '.join(sorted(available))}", code="channel_unavailable")
    template, user = await templates.get_with_user(pool, body.template, body.template_version, body.user_id)
    if template is None:
        what = f"template '{body.template}'" + (f" version {body.template_version}" if body.template_version
                                                 else "")
        raise invalid("template", f"{what} does not exist", code="unknown_template")
    if body.user_id is not None and user is None:
        raise invalid("user_id", f"user '{body.user_id}' does not exist", code="unknown_user")
    to = {c.value: a for c, a in (body.to or {}).items()}
    channels = [c.value for c in body.channels]
    addresses, missing = resolve_addresses(channels + escalate_to, to, user)
    if missing:
        raise invalid("to", f"no address for channel(s) {', '.join(missing)}: give one in 'to' or on the user",
                      code="missing_address")
    if Channel.SIM.value in addresses:
        try:
            parse_address(addresses[Channel.SIM.value])
        except SimAddressError as exc:
            raise invalid("to.sim", str(exc)) from exc
    # A digest renders with `events` (every absorbed notification's data) and `count`: check it as a digest of one.
    # The layout's and includes' versions are fixed now: a later edit of them does not change this notification.
    composition = await template_parts.latest(pool, template)
    await render_or_422(template, {**body.data, "events": [body.data], "count": 1} if body.digest else body.data, user,
                        body.locale, settings.default_locale, composition)
    actions = await render_actions_or_422([(a.label, a.url) for a in body.actions], template, body.data, user,
                                          body.locale, settings.default_locale) if body.actions else None
    scheduled = body.send_at is not None and body.send_at > datetime.now(UTC)
    return notifications.NewNotification(
        id=notification_id, idempotency_key=key, request_hash=fingerprint,
        workflow_id=notification_workflow_id(notification_id),
        status=Status.SCHEDULED if scheduled else Status.ACCEPTED, user_id=body.user_id, recipient=to,
        channels=channels, priority=body.priority.value, category=body.category, template=body.template,
        template_version=template.version, data=body.data, send_at=body.send_at,
        digest=body.digest.model_dump() if body.digest else None,
        escalate=body.escalate.model_dump(mode="json") if body.escalate else None,
        throttle=body.throttle.model_dump() if body.throttle else None, created_by=key_id,
        requested_locale=body.locale, render_pins=composition.pins() if composition else None,
        start_queue=settings.task_queue, start_rank=PRIORITY_KEYS.get(body.priority.value, 3),
        traceparent=current_traceparent(), actions=actions,
    )
