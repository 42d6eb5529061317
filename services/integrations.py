"""Integrations: the providers a team configures as data (API, dashboard, CLI), and the ones the environment
configures, shown beside them and not editable.

A config is checked with its provider's own `Config` model; the fields the provider declares secret are sealed
(core/sealing.py) and never leave this module in the clear, except to build the provider: every view masks
them, every error names the field without its value.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ValidationError

from core.errors import Problem, invalid, not_found
from core.sealing import SealError, SecretBox, secret_box
from core.settings import Settings
from providers.base import DeliveryError, OutgoingMessage
from providers.catalog import KINDS, Kind
from providers.registry import (
    StoredIntegration,
    build_stored,
    environment_providers,
    http_client,
    publish_stored_names,
    vendor_tools,
)
from services.feedback import VENDORS as FEEDBACK_VENDORS
from services.feedback import FeedbackSource
from store import integrations
from store.integrations import IntegrationRecord, NewIntegration

log = logging.getLogger("herald.integrations")

ENV_PREFIX = "env-"
MASK = "****"
# A secret shorter than this is masked whole: its last four characters would give most of it away.
SHOWN_TAIL_FROM = 12


@dataclass(frozen=True)
class IntegrationView:
    """An integration as callers see it: secrets masked."""

    id: str
    channel: str
    provider: str
    config: dict[str, Any]
    priority: int
    rate_per_s: float | None
    active: bool
    read_only: bool
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class TestResult:
    ok: bool
    provider_message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Change:
    """A PATCH: None leaves a field as it is. In `config`, a field given replaces its value, a field given as
    null removes it, a field left out (or a secret given back masked) keeps its value."""

    config: dict[str, Any] | None = None
    priority: int | None = None
    rate_per_s: float | None = None
    clear_rate: bool = False
    active: bool | None = None


def mask(value: object) -> str:
    text = str(value)
    return MASK + text[-4:] if len(text) >= SHOWN_TAIL_FROM else MASK


def provider_names() -> list[str]:
    return sorted(KINDS)


def masked(provider: str, config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the provider's secret fields masked: what a form may show back after a refusal."""
    secrets = KINDS[provider].secrets if provider in KINDS else ()
    return {k: mask(v) if k in secrets and v else v for k, v in config.items()}


def _kind(provider: str) -> Kind:
    kind = KINDS.get(provider)
    if kind is None:
        raise invalid("provider", f"unknown provider '{provider}'; known: {', '.join(sorted(KINDS))}")
    return kind


def _checked(kind: Kind, channel: str, config: dict[str, Any]) -> BaseModel:
    """The config as its provider's model, or a 422 naming each bad `config.<field>` (never its value)."""
    if channel not in kind.channels:
        raise invalid("channel", f"this provider serves {', '.join(kind.channels)}, not '{channel}'")
    try:
        return kind.config.model_validate(config)
    except ValidationError as exc:
        secrets = [str(config[name]) for name in kind.secrets if config.get(name)]
        details = []
        for error in exc.errors(include_input=False, include_url=False):
            message = error["msg"]
            for secret in secrets:
                message = message.replace(secret, MASK)
            field = ".".join(["config", *(str(part) for part in error["loc"])]) if error["loc"] else "config"
            details.append({"field": field, "message": message})
        first = details[0]
        raise Problem(422, "validation_error", f"{first['field']}: {first['message']}", details) from None


def _split(kind: Kind, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    plain = {k: v for k, v in config.items() if k not in kind.secrets}
    secret = {k: str(v) for k, v in config.items() if k in kind.secrets}
    return plain, secret


def _sealed(box: SecretBox, owner: str, secret: dict[str, str]) -> tuple[bytes | None, str | None]:
    return (box.seal(secret, owner), box.seal_id) if secret else (None, None)


def _opened(box: SecretBox, row: IntegrationRecord) -> dict[str, str]:
    if row.sealed is None or row.key_id is None:
        return {}
    return box.open(row.sealed, row.key_id, row.id)


def _view(row: IntegrationRecord, box: SecretBox) -> IntegrationView:
    kind = KINDS.get(row.provider)
    try:
        secrets = {name: mask(value) for name, value in _opened(box, row).items()}
    except SealError:
        secrets = {name: MASK for name in (kind.secrets if kind else ())}
    return IntegrationView(id=row.id, channel=row.channel, provider=row.provider,
                           config={**row.config, **secrets}, priority=row.priority, rate_per_s=row.rate_per_s,
                           active=row.active, read_only=False, created_at=row.created_at,
                           updated_at=row.updated_at)


def _environment_views(settings: Settings, stored: list[IntegrationRecord]) -> list[IntegrationView]:
    # An environment provider is in use while its channel has no active stored integration.
    overridden = {row.channel for row in stored if row.active}
    return [IntegrationView(id=ENV_PREFIX + p.name, channel=p.channel, provider=p.provider, config=p.config,
                            priority=p.priority, rate_per_s=None, active=p.channel not in overridden,
                            read_only=True, created_at=None, updated_at=None)
            for p in environment_providers(settings)]


def _read_only(integration_id: str) -> Problem:
    return Problem(409, "read_only_integration",
                   f"integration '{integration_id}' comes from environment settings: change it there, or add an "
                   "integration for its channel, which takes its place")


async def refresh_names(pool: asyncpg.Pool, settings: Settings) -> None:
    """This process's view of the active chains (what accept checks channels against), read again now."""
    publish_stored_names(settings, chain_names_of(await integrations.list_all(pool)))


def chain_names_of(rows: list[IntegrationRecord]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for row in rows:  # already in channel, priority, id order
        if row.active:
            names.setdefault(row.channel, []).append(row.id)
    return names


async def create(pool: asyncpg.Pool, settings: Settings, *, integration_id: str, channel: str, provider: str,
                 config: dict[str, Any], priority: int, rate_per_s: float | None, active: bool) -> IntegrationView:
    if integration_id.startswith(ENV_PREFIX):
        raise invalid("id", f"ids starting with '{ENV_PREFIX}' name the environment's providers")
    kind = _kind(provider)
    _checked(kind, channel, config)
    box = secret_box(settings)
    plain, secret = _split(kind, config)
    sealed, key_id = _sealed(box, integration_id, secret)
    row = await integrations.insert(pool, NewIntegration(
        id=integration_id, channel=channel, provider=provider, config=plain, sealed=sealed, key_id=key_id,
        priority=priority, rate_per_s=rate_per_s, active=active))
    if row is None:
        raise Problem(409, "conflict", f"integration '{integration_id}' already exists")
    await refresh_names(pool, settings)
    log.info("integration created", extra={"integration_id": row.id, "provider": provider, "channel": channel})
    return _view(row, box)


async def list_all(pool: asyncpg.Pool, settings: Settings) -> list[IntegrationView]:
    box = secret_box(settings)
    rows = await integrations.list_all(pool)
    return [_view(row, box) for row in rows] + _environment_views(settings, rows)


async def get(pool: asyncpg.Pool, settings: Settings, integration_id: str) -> IntegrationView:
    row = await integrations.get(pool, integration_id)
    if row is not None:
        return _view(row, secret_box(settings))
    for view in _environment_views(settings, await integrations.list_all(pool)):
        if view.id == integration_id:
            return view
    raise not_found("integration", integration_id)


async def _stored(pool: asyncpg.Pool, settings: Settings, integration_id: str) -> IntegrationRecord:
    row = await integrations.get(pool, integration_id)
    if row is not None:
        return row
    if integration_id.startswith(ENV_PREFIX):
        await get(pool, settings, integration_id)  # 404 for an environment provider that does not exist
        raise _read_only(integration_id)
    raise not_found("integration", integration_id)


async def update(pool: asyncpg.Pool, settings: Settings, integration_id: str, change: Change) -> IntegrationView:
    row = await _stored(pool, settings, integration_id)
    box = secret_box(settings)
    kind = _kind(row.provider)
    current = {**row.config, **_opened(box, row)}
    config = dict(current)
    for name, value in (change.config or {}).items():
        if value is None:
            config.pop(name, None)
        elif not (name in kind.secrets and isinstance(value, str) and value.startswith(MASK)
                  and name in current and value == mask(current[name])):
            config[name] = value
    _checked(kind, row.channel, config)
    plain, secret = _split(kind, config)
    sealed, key_id = _sealed(box, row.id, secret)
    rate = None if change.clear_rate else (change.rate_per_s if change.rate_per_s is not None else row.rate_per_s)
    updated = await integrations.replace(pool, NewIntegration(
        id=row.id, channel=row.channel, provider=row.provider, config=plain, sealed=sealed, key_id=key_id,
        priority=change.priority if change.priority is not None else row.priority, rate_per_s=rate,
        active=change.active if change.active is not None else row.active))
    if updated is None:
        raise not_found("integration", integration_id)
    await refresh_names(pool, settings)
    log.info("integration changed", extra={"integration_id": row.id})
    return _view(updated, box)


async def delete(pool: asyncpg.Pool, settings: Settings, integration_id: str) -> None:
    await _stored(pool, settings, integration_id)
    if not await integrations.delete(pool, integration_id):
        raise not_found("integration", integration_id)
    await refresh_names(pool, settings)
    log.info("integration deleted", extra={"integration_id": integration_id})


def _active(row: IntegrationRecord, box: SecretBox) -> StoredIntegration:
    kind = _kind(row.provider)
    config = kind.config.model_validate({**row.config, **_opened(box, row)})
    return StoredIntegration(id=row.id, channel=row.channel, provider=row.provider, config=config,
                             rate_per_s=row.rate_per_s)


def ready_of(rows: list[IntegrationRecord], box: SecretBox) -> tuple[list[StoredIntegration], dict[str, list[str]]]:
    """The active ones of `rows`, built-ready in priority order, and their ids per channel. One that cannot be
    opened or no longer validates is left out and logged: the others keep working."""
    ready: list[StoredIntegration] = []
    for row in rows:
        if not row.active:
            continue
        try:
            ready.append(_active(row, box))
        except (SealError, ValidationError, Problem) as exc:
            log.error("integration left out: %s", type(exc).__name__, extra={"integration_id": row.id})
    return ready, chain_names_of([row for row in rows if row.id in {r.id for r in ready}])


async def test(pool: asyncpg.Pool, settings: Settings, integration_id: str, to: str) -> TestResult:
    """One real send of a short message to `to` through the integration, active or not."""
    row = await _stored(pool, settings, integration_id)
    box = secret_box(settings)
    try:
        integration = _active(row, box)
    except SealError as exc:
        return TestResult(ok=False, error=str(exc))
    async with http_client(1, settings.webhook_timeout_s) as client:
        sender = build_stored(integration, vendor_tools(settings, client), settings.public_url)
        message = OutgoingMessage(
            notification_id=f"test-{uuid.uuid4()}", channel=row.channel, address=to,
            subject="Herald test message", body=f"A test message through the integration '{row.id}'.",
            user_id=None, attempt=1)
        try:
            receipt = await sender.send(message)
        except DeliveryError as exc:
            return TestResult(ok=False, error=exc.message)
        finally:
            close = getattr(sender, "aclose", None)  # adapters with connections of their own (APNs)
            if close is not None:
                await close()
        return TestResult(ok=True, provider_message_id=receipt.provider_message_id)


async def feedback_source(pool: asyncpg.Pool, settings: Settings, integration_id: str) -> FeedbackSource | None:
    """Who posts `POST /v1/feedback/{integration_id}`: a stored integration of a vendor that sends feedback, with
    the config (secrets opened) its signature is checked with; None for any other id."""
    row = await integrations.get(pool, integration_id)
    return None if row is None else _feedback_source(row, secret_box(settings))


def feedback_sources_of(rows: list[IntegrationRecord], box: SecretBox) -> dict[str, FeedbackSource]:
    """`feedback_source` of each of `rows` that is one, by id, active or not: a vendor reports on messages sent
    before the integration was disabled."""
    sources = (_feedback_source(row, box) for row in rows)
    return {source.integration_id: source for source in sources if source is not None}


def _feedback_source(row: IntegrationRecord, box: SecretBox) -> FeedbackSource | None:
    if row.provider not in FEEDBACK_VENDORS:
        return None
    try:
        secrets = _opened(box, row)
    except SealError:
        log.error("feedback refused: the integration's secrets cannot be opened", extra={"integration_id": row.id})
        return None
    return FeedbackSource(integration_id=row.id, vendor=row.provider, config={**row.config, **secrets})


async def reseal(pool: asyncpg.Pool, settings: Settings) -> int:
    """Seals every integration's secrets again under the first key of HERALD_INTEGRATION_KEYS (after a key
    rotation); returns how many were sealed under another key."""
    box = secret_box(settings)
    count = 0
    for row in await integrations.list_all(pool):
        if row.key_id is None or row.key_id == box.seal_id:
            continue
        sealed, key_id = _sealed(box, row.id, _opened(box, row))
        await integrations.replace(pool, NewIntegration(
            id=row.id, channel=row.channel, provider=row.provider, config=row.config, sealed=sealed,
            key_id=key_id, priority=row.priority, rate_per_s=row.rate_per_s, active=row.active))
        count += 1
    return count
