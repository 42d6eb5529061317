"""A broadcast from its request to its workflow's input: checked, stored once, and started once.

Shared by the API's `POST /v1/broadcasts` (and the dashboard's send page) and by the fires of recurring
schedules (activities/schedules.py), so both check and store a broadcast the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from core import locales, templating
from core.models import BroadcastInput
from core.recipients import SampleUser
from core.starting import queued_channels, retry_config
from core.workflow_ids import broadcast_workflow_id
from core.workflow_options import broadcast_start
from providers.registry import chain_names
from store import broadcasts, templates

if TYPE_CHECKING:
    from core.settings import Settings
    from store.db import Executor

# What a template sees as `user` when a broadcast is checked before anyone is chosen.
SAMPLE_USER = SampleUser(id="sample", name="Sample")


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


class BroadcastRefused(Exception):
    """The broadcast cannot be sent as asked (a 422 in the API; a non-retryable failure in a fire)."""

    def __init__(self, field: str, code: str, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message
        self.extra = extra or {}


async def check(conn: Executor, settings: Settings, spec: BroadcastSpec) -> templates.TemplateRecord:
    """Refuses what could never be sent (a channel without a provider, a missing template, data that does not
    render for a sample user); returns the template's row."""
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
        await templating.render_async(choice.subject, choice.body, templating.context_for(spec.data, SAMPLE_USER),
                                      choice.html, locale=choice.format_locale)
    except templating.TemplateError as exc:
        code = "missing_variable" if exc.variable else "template_error"
        field_name = f"data.{exc.variable}" if exc.variable else exc.field
        raise BroadcastRefused(field_name, code, exc.message, {"variable": exc.variable}) from exc
    return template


async def store(conn: Executor, spec: BroadcastSpec, template: templates.TemplateRecord, *, broadcast_id: str, key: str,
                fingerprint: str, schedule_id: str | None = None,
                created_by: str | None = None) -> tuple[dict[str, Any], bool]:
    """Stores the broadcast under its idempotency key: (row, True), or the row stored before (row, False)."""
    return await broadcasts.insert(conn, broadcasts.NewBroadcast(
        id=broadcast_id, idempotency_key=key, request_hash=fingerprint, workflow_id=broadcast_workflow_id(broadcast_id),
        template=spec.template, template_version=template.version, data=spec.data, channels=spec.channels,
        priority=spec.priority, category=spec.category, audience=spec.audience, schedule_id=schedule_id,
        created_by=created_by, locale=spec.locale))


async def start(client: Client, settings: Settings, row: dict[str, Any]) -> None:
    """Starts a stored broadcast's workflow, or finds it already started (or finished): never a second one.

    A schedule's fire starts its broadcast as a child (workflows/scheduled.py) with these same options.
    """
    inp = workflow_input(row, settings)
    options = broadcast_start(inp)
    try:
        # By name, as join_digest starts its workflow: core needs no workflow module for it.
        await client.start_workflow(
            "BroadcastWorkflow", inp, id=options.id, task_queue=settings.task_queue,
            id_conflict_policy=options.id_conflict_policy, id_reuse_policy=options.id_reuse_policy,
            priority=options.priority, task_timeout=options.task_timeout)
    except WorkflowAlreadyStartedError:
        pass


def workflow_input(row: dict[str, Any], settings: Settings) -> BroadcastInput:
    """The BroadcastWorkflow's input for a stored broadcast."""
    available = chain_names(settings)
    channels = list(row["channels"])
    return BroadcastInput(broadcast_id=row["id"], template=row["template"], template_version=row["template_version"],
                          data=row["data"], channels=channels, priority=row["priority"], category=row["category"],
                          retry=retry_config(settings),
                          provider_chains={c: len(n) for c, n in available.items() if c in channels},
                          queued_channels=queued_channels(settings, channels),
                          page_size=settings.broadcast_page_size)



