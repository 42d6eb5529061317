"""Accepting one notification: idempotency, validation, and storage with its start intent, shared by the
single and the bulk endpoint and the dashboard's send page. Workers start the workflow from the outbox
(`services/outbox.py`): accepting touches only PostgreSQL, and goes on while Temporal is down. A bulk request is
checked and stored as one batch (`accept_many`), in as many round trips as a single notification."""

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
from services.accept_reads import AcceptReads
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


@dataclass(frozen=True)
class Accepted:
    """A notification stored now (202) or, for a repeat of its request, the one stored before (200)."""

    status: int
    notification: NotificationRecord


@dataclass(frozen=True)
class _Keyed:
    """A request and what it is stored under: the client's key as given, the key scoped to the caller, the
    request's fingerprint and the notification id derived from the key."""

    body: NotificationRequest
    given: str | None
    key: str
    fingerprint: str
    notification_id: str


async def accept(pool: asyncpg.Pool, settings: Settings, body: NotificationRequest,
                 header_key: str | None, caller: Caller,
                 kept: AcceptReads | None = None) -> tuple[int, NotificationRecord]:
    """Returns (202, notification) when accepted now, (200, notification) for a repeat; raises Problem.

    The idempotency key is scoped to the calling API key, and the row records that key as its creator."""
    (outcome,) = await accept_many(pool, settings, [(body, header_key)], caller, kept)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome.status, outcome.notification


async def accept_many(pool: asyncpg.Pool, settings: Settings,
                      requests: Sequence[tuple[NotificationRequest, str | None]],
                      caller: Caller, kept: AcceptReads | None = None) -> list[Accepted | Exception]:
    """Each request (with its `Idempotency-Key` header, if any) accepted or refused on its own, in the order
    given: Accepted, or the Problem (or the unexpected error) that refused it.

    Round trips do not grow with the number of requests: one read (templates, their layouts and includes, the
    users; with `kept`, only the users and the version of the templates kept from before), one insert of every
    new notification with its start intent, and, only when a key was used before, one read of the notifications
    holding those keys. Within the batch the first request of a key that passes
    the checks is stored, and the later ones are its repeats. A request refused by a check whose key names a
    notification stored before is a repeat of it (200, or 409 for another body), as the request that stored it
    was."""
    outcomes: list[Accepted | Exception | None] = [None] * len(requests)
    keyed: list[_Keyed | None] = []
    for position, (body, header_key) in enumerate(requests):
        try:
            keyed.append(_keyed(body, header_key, caller))
        except Problem as exc:
            outcomes[position] = exc
            keyed.append(None)
    asked = [k for k in keyed if k is not None]
    if not asked:
        return [outcome for outcome in outcomes if outcome is not None]
    try:
        templates_asked = sorted({(k.body.template, k.body.template_version) for k in asked}, key=str)
        users_asked = sorted({k.body.user_id for k in asked if k.body.user_id is not None})
        reads = await (kept.read(pool, templates_asked, users_asked) if kept is not None
                       else templates.for_accept(pool, templates_asked, users_asked))
    except Exception as exc:  # PostgreSQL is not answering: every request waits on this read alike
        return [exc if outcome is None else outcome for outcome in outcomes]

    rows: dict[int, notifications.NewNotification] = {}
    refused: list[int] = []  # refused by a check: a repeat of a stored notification all the same?
    stored_keys: set[str] = set()
    for position, k in enumerate(keyed):
        if k is None or k.key in stored_keys:
            continue
        try:
            rows[position] = await _validated_row(settings, k, caller.key, reads)
            stored_keys.add(k.key)
        except Problem as exc:
            outcomes[position] = exc
            if k.given is not None:
                refused.append(position)
        except Exception as exc:  # one request's failure must not hide the others' answers
            outcomes[position] = exc

    created = {n.id: n for n in await _insert(pool, rows, outcomes)}
    for position, row in rows.items():
        if row.id in created:
            outcomes[position] = Accepted(202, _new_deliveries(created[row.id]))
    repeats = [position for position, k in enumerate(keyed)
               if (k is not None and outcomes[position] is None) or position in refused]
    if repeats:
        await _resolve_repeats(pool, keyed, repeats, set(created), outcomes)
    return [outcome if outcome is not None else AssertionError("a conflicting insert must leave a row behind")
            for outcome in outcomes]


def _keyed(body: NotificationRequest, header_key: str | None, caller: Caller) -> _Keyed:
    if body.user_id is not None and body.to and not caller.is_admin:
        # A user's fields rendered to an address of the caller's choosing would disclose them to anyone.
        raise Problem(403, "forbidden", "'to' together with 'user_id' needs the 'admin' scope: send to the "
                      "user's own addresses, or give 'to' without 'user_id'", {"fields": ["to", "user_id"]})
    given = header_key or body.idempotency_key
    key = client_key(caller.key, given or new_idempotency_key())
    # A field added later and left out changes no fingerprint: a repeat of an older request still matches.
    unset = {name for name in ("locale", "actions") if getattr(body, name) is None}
    fingerprint = request_fingerprint(body.model_dump(mode="json", exclude={"idempotency_key"} | unset))
    return _Keyed(body=body, given=given, key=key, fingerprint=fingerprint,
                  notification_id=notification_id_for_key(key))


async def _insert(pool: asyncpg.Pool, rows: dict[int, notifications.NewNotification],
                  outcomes: list[Accepted | Exception | None]) -> list[NotificationRecord]:
    """The rows in one statement; the notifications created. A value the database refuses fails the statement:
    then each row goes alone, so the one refused answers for itself and the others are stored."""
    try:
        return await notifications.insert_many(pool, list(rows.values()))
    except asyncpg.DataError:
        pass
    except Exception as exc:  # PostgreSQL is not answering: nothing was stored
        for position in rows:
            outcomes[position] = exc
        return []
    created: list[NotificationRecord] = []
    for position, row in rows.items():
        try:
            created += await notifications.insert_many(pool, [row])
        except Exception as exc:
            outcomes[position] = exc
    return created


async def _resolve_repeats(pool: asyncpg.Pool, keyed: list[_Keyed | None], repeats: list[int],
                           created_now: set[str], outcomes: list[Accepted | Exception | None]) -> None:
    """Answers the requests whose key holds a notification: the same body is a repeat (200 with it), another
    body a conflict (409). A refused request keeps its refusal when the notification was stored by a later
    request of this batch: there was none when it came."""
    asking = [k for k in (keyed[p] for p in repeats) if k is not None]
    try:
        found = await notifications.stored_for(pool, [
            notifications.NotificationKey(k.key, k.notification_id, k.given) for k in asking])
    except Exception as exc:  # PostgreSQL is not answering: the refusals stand, the repeats go unanswered
        for position in repeats:
            outcomes[position] = outcomes[position] or exc
        return
    for position, k, stored in zip(repeats, asking, found, strict=True):
        if stored is None or (outcomes[position] is not None and stored.id in created_now):
            continue
        if stored.request_hash != k.fingerprint:
            outcomes[position] = Problem(409, "idempotency_conflict",
                                         "this idempotency key was already used with a different request body",
                                         {"notification_id": stored.id})
        else:
            outcomes[position] = Accepted(200, stored)


def _new_deliveries(stored: NotificationRecord) -> NotificationRecord:
    """A notification just stored, with the deliveries its statement wrote."""
    log.info("accepted", extra={"notification_id": stored.id, "workflow_id": stored.workflow_id,
                                "channel": ",".join(stored.channels), "priority": stored.priority,
                                "status": stored.status})
    return replace(stored, deliveries=[
        DeliveryRecord(channel=c, status=stored.status, provider=None, attempts=0, provider_message_id=None,
                       last_error=None, confirmed_at=None) for c in stored.channels])


async def _validated_row(settings: Settings, k: _Keyed, key_id: str,
                         reads: templates.ForAccept) -> notifications.NewNotification:
    """Everything that can be known wrong now is refused now, with the field named."""
    body = k.body
    available = chain_names(settings)
    unavailable = [c.value for c in body.channels if c.value not in available]
    escalate_to = [c.value for c in body.escalate.to] if body.escalate else []
    if [c for c in escalate_to if c not in available]:
        raise invalid("escalate.to", f"no provider is configured for channel(s) "
                      f"{', '.join(c for c in escalate_to if c not in available)}", code="channel_unavailable")
    if unavailable:
        raise invalid("channels", f"no provider is configured for channel(s) {', '.join(unavailable)}; "
                      f"available: {', '.join(sorted(available))}", code="channel_unavailable")
    template = reads.templates.get((body.template, body.template_version))
    user = reads.users.get(body.user_id) if body.user_id is not None else None
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
    composition = template_parts.compose(template.name, template.layout, template.includes, reads.layouts,
                                         reads.parts)
    await render_or_422(template, {**body.data, "events": [body.data], "count": 1} if body.digest else body.data, user,
                        body.locale, settings.default_locale, composition)
    actions = await render_actions_or_422([(a.label, a.url) for a in body.actions], template, body.data, user,
                                          body.locale, settings.default_locale) if body.actions else None
    scheduled = body.send_at is not None and body.send_at > datetime.now(UTC)
    return notifications.NewNotification(
        id=k.notification_id, idempotency_key=k.key, request_hash=k.fingerprint,
        workflow_id=notification_workflow_id(k.notification_id),
        status=Status.SCHEDULED if scheduled else Status.ACCEPTED, user_id=body.user_id, recipient=to,
        channels=channels, priority=body.priority.value, category=body.category, template=body.template,
        template_version=template.version, data=body.data, send_at=body.send_at,
        digest=body.digest.model_dump() if body.digest else None,
        escalate=body.escalate.model_dump(mode="json") if body.escalate else None,
        throttle=body.throttle.model_dump() if body.throttle else None, created_by=key_id,
        requested_locale=body.locale, render_pins=composition.pins() if composition else None,
        start_queue=settings.task_queue, start_rank=PRIORITY_KEYS.get(body.priority.value, 3),
        traceparent=current_traceparent(), actions=actions, legacy_key=k.given,
    )
