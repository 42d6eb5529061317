"""Broadcasts: one message to many users, from its request to its workflow: checked, stored once, started once.

Accepting a broadcast touches only PostgreSQL: the broadcast and its start intent are stored in one statement,
and the workers start its BroadcastWorkflow from the outbox (services/outbox.py), so a broadcast is accepted
while Temporal is down and starts when it returns.

Shared by the API's `POST /v1/broadcasts`, the dashboard's send page and the fires of recurring schedules
(activities/schedules.py), so all of them check and store a broadcast the same way.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core import locales, templating
from core.errors import Problem, not_found
from core.ids import client_key, new_idempotency_key, notification_id_for_key, request_fingerprint
from core.models import BroadcastInput
from core.recipients import SampleUser
from core.starting import queued_channels, retry_config
from core.temporal import PRIORITY_KEYS, is_outage
from core.workflow_ids import broadcast_workflow_id
from core.workflow_options import broadcast_start
from providers.registry import chain_names
from services import template_parts
from store import broadcasts, outbox, templates
from store.broadcasts import BroadcastRecord

if TYPE_CHECKING:
    import asyncpg

    from core.settings import Settings
    from store.db import Executor

# What a template sees as `user` when a broadcast is checked before anyone is chosen.
SAMPLE_USER = SampleUser(id="sample", name="Sample")
_RETRY_AFTER = {"Retry-After": "5"}
# How long canceling waits for a broadcast whose start a worker holds at that moment (the starter's own timeout
# and a little more): then its workflow runs and is signalled, or the start went back to wait and is canceled.
START_WAIT_S = 4.0


@dataclass
class BroadcastSpec:
    """What to send and to whom: the part of a broadcast request that a schedule repeats."""

    template: str
    template_version: int | None  # None: the latest version when the broadcast is stored
    data: dict[str, Any]
    channels: list[str]
    priority: str
    category: str | None
    audience: dict[str, Any]
    locale: str | None = None  # tried before each recipient's own locale


@dataclass(frozen=True)
class BroadcastProgress:
    """A stored broadcast and how many of its recipients' notifications are in each status."""

    broadcast: BroadcastRecord
    counts: dict[str, int]


class BroadcastRefused(Problem):
    """The broadcast cannot be sent as asked: a 422 naming the field; a non-retryable failure in a fire."""

    def __init__(self, field: str, code: str, message: str, extra: dict[str, Any] | None = None):
        super().__init__(422, code, message, [{"field": field, "message": message, **(extra or {})}])
        self.field = field


def spec_of(sent: dict[str, Any]) -> BroadcastSpec:
    """The spec of a validated request body (the API's BroadcastCreate, as JSON)."""
    return BroadcastSpec(template=sent["template"], template_version=sent["template_version"], data=sent["data"],
                         channels=list(sent["channels"]), priority=sent["priority"], category=sent["category"],
                         audience={k: v for k, v in sent["audience"].items() if v is not None},
                         locale=sent["locale"])


def fingerprint_of(sent: dict[str, Any]) -> str:
    """The request's fingerprint: a repeat under the same idempotency key must match it."""
    # A field added later and left out changes no fingerprint: a repeat of an older request still matches.
    unset = {"locale"} if sent.get("locale") is None else set()
    return request_fingerprint({k: v for k, v in sent.items() if k not in {"idempotency_key"} | unset})


async def create(pool: asyncpg.Pool, settings: Settings, sent: dict[str, Any], idempotency_key: str | None, *,
                 key_id: str) -> tuple[BroadcastProgress, bool]:
    """Stores a broadcast with its start intent: (broadcast, True), or (broadcast, False) for a repeat of the
    same request. Temporal is not asked: a worker starts the workflow from the outbox.

    `sent` is the validated request body as JSON; the idempotency key (the header's, else the body's) is scoped
    to the calling API key, `key_id`.
    """
    key = client_key(key_id, idempotency_key or sent.get("idempotency_key") or new_idempotency_key())
    request_hash = fingerprint_of(sent)
    spec = spec_of(sent)
    version = await check(pool, settings, spec)
    row, created = await store(pool, spec, version, broadcast_id=notification_id_for_key(f"broadcast:{key}"),
                               key=key, fingerprint=request_hash, created_by=key_id,
                               start_queue=settings.task_queue)
    if not created and row.request_hash != request_hash:
        raise Problem(409, "idempotency_conflict", "this idempotency key was already used with a different "
                      "request body", {"broadcast_id": row.id})
    return await progress(pool, row), created


async def get(pool: asyncpg.Pool, broadcast_id: str, *, key_id: str, sees_all: bool) -> BroadcastProgress:
    """The broadcast, if the calling API key (`key_id`) sent it or may see everyone's."""
    row = await broadcasts.get(pool, broadcast_id)
    if row is None or not (sees_all or row.created_by == key_id):
        raise not_found("broadcast", broadcast_id)
    return await progress(pool, row)


async def cancel(pool: asyncpg.Pool, temporal: Client, broadcast_id: str) -> BroadcastProgress:
    """Stops a broadcast: one whose start still waits in the outbox is canceled there and never starts (Temporal
    need not answer); a started one is asked to stop by its workflow. 409 when it has already finished."""
    row = await broadcasts.get(pool, broadcast_id)
    if row is None:
        raise not_found("broadcast", broadcast_id)
    if row.status in ("sent", "canceled"):
        raise _already_final(row)
    if await _cancel_unstarted(pool, row):
        canceled = await broadcasts.get(pool, broadcast_id)
        assert canceled is not None
        return await progress(pool, canceled)
    if not await _signal_cancel(temporal, row.workflow_id):
        raise _already_final(row)
    return await progress(pool, row)


def _already_final(row: BroadcastRecord) -> Problem:
    return Problem(409, "already_final", f"the broadcast is already {row.status}", {"status": row.status})


async def _cancel_unstarted(pool: asyncpg.Pool, row: BroadcastRecord) -> bool:
    """True when the broadcast was canceled before its start; False when its workflow exists (or it has none to
    start: a schedule's fire starts it as a child). A start a worker holds right now is waited for: it either
    goes through or goes back to wait, and whichever it is decides."""
    deadline = time.monotonic() + START_WAIT_S
    while True:
        if await outbox.cancel_unstarted_broadcast(pool, row.id):
            return True
        if not await outbox.broadcast_pending(pool, row.id):
            return False
        if time.monotonic() > deadline:
            raise Problem(503, "temporal_unavailable", "the broadcast's workflow is being started; try again "
                          "shortly", {"broadcast_id": row.id, "status": row.status}, headers=_RETRY_AFTER)
        await asyncio.sleep(0.05)


async def progress(conn: Executor, row: BroadcastRecord) -> BroadcastProgress:
    return BroadcastProgress(broadcast=row, counts=await broadcasts.counts(conn, row.id))


async def _signal_cancel(temporal: Client, workflow_id: str) -> bool:
    """False when the workflow no longer runs (closed after its retention, or never started)."""
    try:
        await temporal.get_workflow_handle(workflow_id).signal("cancel")
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return False
        if not is_outage(exc):
            raise
        raise Problem(503, "temporal_unavailable", f"could not signal the workflow: {exc}",
                      headers=_RETRY_AFTER) from exc
    return True


async def check(conn: Executor, settings: Settings, spec: BroadcastSpec) -> int:
    """Refuses what could never be sent (a channel without a provider, a missing template, data that does not
    render for a sample user) with BroadcastRefused; returns the template's version to store."""
    available = chain_names(settings)
    unavailable = [c for c in spec.channels if c not in available]
    if unavailable:
        raise BroadcastRefused("channels", "channel_unavailable",
                               f"no provider is configured for channel(s) {', '.join(unavailable)}")
    template = await templates.get(conn, spec.template, spec.template_version)
    if template is None:
        raise BroadcastRefused("template", "unknown_template", f"template '{spec.template}' does not exist")
    choice = locales.choose(template, spec.locale, None, settings.default_locale)
    try:
        composition = await template_parts.latest(conn, template)
    except Problem as exc:
        raise BroadcastRefused("template", exc.code, exc.message) from exc
    try:
        await templating.render_async(choice.subject, choice.body, templating.context_for(spec.data, SAMPLE_USER),
                                      choice.html, locale=choice.format_locale,
                                      parts=template_parts.parts_for(composition, choice.locale))
    except templating.TemplateError as exc:
        code = "missing_variable" if exc.variable else "template_error"
        field_name = f"data.{exc.variable}" if exc.variable else exc.field
        raise BroadcastRefused(field_name, code, exc.message, {"variable": exc.variable}) from exc
    return template.version


async def store(conn: Executor, spec: BroadcastSpec, template_version: int, *, broadcast_id: str, key: str,
                fingerprint: str, schedule_id: str | None = None, created_by: str | None = None,
                start_queue: str | None = None) -> tuple[BroadcastRecord, bool]:
    """Stores the broadcast under its idempotency key: (row, True), or the row stored before (row, False).

    With `start_queue`, its start intent too, in the same statement: the workers of that queue start it."""
    return await broadcasts.insert(conn, broadcasts.NewBroadcast(
        id=broadcast_id, idempotency_key=key, request_hash=fingerprint, workflow_id=broadcast_workflow_id(broadcast_id),
        template=spec.template, template_version=template_version, data=spec.data, channels=spec.channels,
        priority=spec.priority, category=spec.category, audience=spec.audience, schedule_id=schedule_id,
        created_by=created_by, locale=spec.locale), start_queue=start_queue,
        start_rank=PRIORITY_KEYS.get(spec.priority, 3))


async def start(client: Client, settings: Settings, row: BroadcastRecord) -> None:
    """Starts a stored broadcast's workflow, or finds it already started (or finished): never a second one.

    The outbox starter calls it (services/outbox.py); a schedule's fire starts its broadcast as a child
    (workflows/scheduled.py) with these same options.
    """
    inp = workflow_input(row, settings)
    options = broadcast_start(inp)
    try:
        # By name: services start workflows without importing them.
        await client.start_workflow(
            "BroadcastWorkflow", inp, id=options.id, task_queue=settings.task_queue,
            id_conflict_policy=options.id_conflict_policy, id_reuse_policy=options.id_reuse_policy,
            priority=options.priority, task_timeout=options.task_timeout)
    except WorkflowAlreadyStartedError:
        pass


def workflow_input(row: BroadcastRecord, settings: Settings) -> BroadcastInput:
    """The BroadcastWorkflow's input for a stored broadcast."""
    available = chain_names(settings)
    channels = list(row.channels)
    return BroadcastInput(broadcast_id=row.id, template=row.template, template_version=row.template_version,
                          data=row.data, channels=channels, priority=row.priority, category=row.category,
                          retry=retry_config(settings),
                          provider_chains={c: len(n) for c, n in available.items() if c in channels},
                          queued_channels=queued_channels(settings, channels),
                          page_size=settings.broadcast_page_size)
