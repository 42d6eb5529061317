"""Delivery feedback: a vendor's signed callback, verified, then applied to the deliveries it names.

`receive` checks the vendor's signature before anything in the body is read (providers/feedback/), then `apply`
matches each event to its delivery by the message id the provider gave at the send (the delivery receipt) and
records it once, whatever the vendor's retries, and in any order:

- `delivered`: the delivery's `confirmed_at`, unless feedback already ended it (a late "delivered" never
  overrides a bounce);
- `bounced` (hard), `complained`, `undelivered`: the delivery's final status, with the vendor's reason in the
  timeline and a status webhook event `notification.bounced` / `notification.complained`; a notification whose
  every delivery ended so is `undelivered` (`notification.undelivered`). A hard bounce, a complaint or a
  permanent undelivery suppresses the address on its channel (source `feedback`);
- a soft bounce (the vendor keeps trying) goes in the timeline only; `other` events are not acted on.

A push vendor says it at the send instead (FCM `UNREGISTERED`, APNs `Unregistered`: the device token is gone):
`gone_at_send`, which the deliver activity calls, ends the delivery `bounced` the same way, and the workflow
decides the notification's end.

An event naming no message Herald sent changes nothing: vendors retry callbacks that are not answered 2xx.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from core.errors import Problem
from providers.feedback import BadFeedback, FeedbackEvent, mailgun, postmark, sendgrid, ses, twilio
from services import suppressions
from store import feedback

if TYPE_CHECKING:
    from store.db import Connection

log = logging.getLogger("herald.feedback")

VENDORS = ("twilio", "sendgrid", "mailgun", "postmark", "ses")


@dataclass(frozen=True)
class FeedbackSource:
    """Whose callback this is: the integration it was configured for, its vendor, and the secrets that verify it
    (the vendor's feedback module names the config fields it reads)."""

    integration_id: str
    vendor: str
    config: Mapping[str, Any] = field(default_factory=dict)


# How the endpoint finds the source of `POST /v1/feedback/{integration_id}`: None for an unknown id.
SourceLookup = Callable[[str], Awaitable[FeedbackSource | None]]


async def no_sources(integration_id: str) -> FeedbackSource | None:
    """The lookup of a Herald with no integration that takes feedback configured."""
    return None


@dataclass
class Applied:
    """What one callback changed: events applied, repeats of events applied before, events naming no message
    Herald sent, and events Herald does not act on."""

    applied: int = 0
    duplicate: int = 0
    unknown: int = 0
    ignored: int = 0


def sns_certificates(certificate_host: str | None = None) -> ses.Certificates:
    """The SNS signing certificates' cache, with a TLS-verifying client of its own (the API closes it).
    `certificate_host` (`host:port`, HERALD_SNS_CERT_HOST) replaces Amazon's SNS hosts as the one place
    certificates may come from."""
    trust = ses.CertificateTrust()
    if certificate_host:
        host, _, port = certificate_host.rpartition(":")
        trust = ses.CertificateTrust(re.compile(f"^{re.escape(host.strip('[]'))}$"), int(port))
    return ses.Certificates(client=httpx.AsyncClient(timeout=10.0, follow_redirects=False,
                                                     headers={"User-Agent": "Herald"}), trust=trust)


def feedback_url(public_url: str, integration_id: str) -> str:
    """The callback URL vendors are given, and the one their URL-covering signatures are checked over."""
    return f"{public_url.rstrip('/')}/v1/feedback/{integration_id}"


async def receive(pool: asyncpg.Pool, source: FeedbackSource, url: str, headers: Mapping[str, str],
                  raw_body: bytes, certificates: ses.Certificates | None = None) -> Applied:
    """Verifies the callback (BadSignature, a 401, changes nothing) and applies its events."""
    return await apply(pool, source.integration_id, await read(source, url, headers, raw_body, certificates))


async def read(source: FeedbackSource, url: str, headers: Mapping[str, str], raw_body: bytes,
               certificates: ses.Certificates | None = None) -> list[FeedbackEvent]:
    """The callback's events, once its signature is proven."""
    if source.vendor == "twilio":
        return twilio.verify_and_read(source.config, url, headers, raw_body)
    if source.vendor == "sendgrid":
        return sendgrid.verify_and_read(source.config, url, headers, raw_body)
    if source.vendor == "mailgun":
        return mailgun.verify_and_read(source.config, url, headers, raw_body)
    if source.vendor == "postmark":
        return postmark.verify_and_read(source.config, url, headers, raw_body)
    if source.vendor == "ses":
        if certificates is None:
            raise Problem(503, "unavailable", "ses: no client to fetch SNS signing certificates with")
        sns = await ses.verify_and_read(source.config, url, headers, raw_body, certificates=certificates)
        if sns.subscribe_url is not None:
            await _confirm_subscription(certificates, sns.subscribe_url)
        return sns.events
    raise BadFeedback(f"the integration's provider '{source.vendor}' sends no delivery feedback")


async def _confirm_subscription(certificates: ses.Certificates, subscribe_url: str) -> None:
    """SNS asks the endpoint to prove it wants the topic's messages by GETting the (signed) SubscribeURL."""
    try:
        answer = await certificates.client.get(subscribe_url, timeout=certificates.deadline_s)
    except Exception as exc:  # SNS repeats the confirmation while it is not answered 2xx
        raise Problem(503, "unavailable", "ses: the SNS subscription could not be confirmed") from exc
    if answer.status_code != 200:
        raise Problem(503, "unavailable", f"ses: confirming the SNS subscription answered HTTP {answer.status_code}")


def message_ids(provider_message_id: str) -> list[str]:
    """The forms a vendor's id may have been stored in at the send: Mailgun answers a send with `<id>` and reports
    events with `id`."""
    bare = provider_message_id.strip().removeprefix("<").removesuffix(">")
    return [bare, f"<{bare}>"]


async def apply(pool: asyncpg.Pool, source: str, events: list[FeedbackEvent]) -> Applied:
    """Applies each event to the deliveries its message id names, each (event, delivery) once.

    A callback's events are applied together, in one transaction of a few statements whatever their number
    (SendGrid posts hundreds at a time): endings first, then arrivals, so a "delivered" in the same callback as a
    bounce never confirms it either."""
    applied = Applied()
    acting = []
    for event in map(_storable, events):
        if event.kind == "other":
            applied.ignored += 1
        else:
            acting.append(event)
    forms = sorted({form for event in acting for form in message_ids(event.provider_message_id)})
    sent: dict[str, list[feedback.SentDelivery]] = {}
    for match in await feedback.sent_deliveries(pool, forms) if forms else []:
        sent.setdefault(message_ids(match.provider_message_id)[0], []).append(match)
    pairs = []
    for event in acting:
        matches = sent.get(message_ids(event.provider_message_id)[0], [])
        applied.unknown += not matches
        pairs += [(event, match) for match in matches]
    if pairs:
        async with pool.acquire() as conn, conn.transaction():
            claimed = await feedback.claim_all(conn, source, [_claim(event, match) for event, match in pairs])
            fresh = []
            for event, match in pairs:  # an event a callback repeats is claimed once
                if _claim(event, match) in claimed:
                    claimed.discard(_claim(event, match))
                    fresh.append((event, match))
            await _apply_claimed(conn, fresh)
        applied.applied = len(fresh)
        applied.duplicate = len(pairs) - len(fresh)
    if applied.applied or applied.unknown:
        log.info("feedback applied", extra={"source": source, "applied": applied.applied,
                                            "duplicate": applied.duplicate, "unknown": applied.unknown})
    return applied


def _claim(event: FeedbackEvent, match: feedback.SentDelivery) -> feedback.Claim:
    return feedback.Claim(event.event_id, match.notification_id, match.channel, event.kind)


def _storable(event: FeedbackEvent) -> FeedbackEvent:
    """The vendor's text without NUL characters, which PostgreSQL text cannot hold: a signed callback carrying one
    must not fail, or the vendor would repeat it forever."""
    def clean(text: str) -> str:
        return text.replace("\x00", "")
    return replace(event, provider_message_id=clean(event.provider_message_id), reason=clean(event.reason),
                   event_id=clean(event.event_id), address=clean(event.address) if event.address else None)


async def _apply_claimed(conn: Connection, fresh: list[tuple[FeedbackEvent, feedback.SentDelivery]]) -> None:
    suppress: list[tuple[str, str, str]] = []
    for event, match in fresh:
        if event.kind != "delivered":
            await _end(conn, event, match)
            address = event.address or match.address
            if (event.kind == "complained" or event.permanent) and address:
                suppress.append((match.channel, address, f"{event.kind}: {event.reason}"))
    now = datetime.now(UTC)
    arrivals = [feedback.Arrival(match.notification_id, match.channel, match.provider, event.occurred_at or now)
                for event, match in fresh if event.kind == "delivered"]
    if arrivals:
        await feedback.confirm_all(conn, arrivals)
    await suppressions.suppress_all(conn, suppress, source="feedback")


async def _end(conn: Connection, event: FeedbackEvent, match: feedback.SentDelivery) -> None:
    """A bounce, a complaint or an undelivery: the delivery's end (a soft bounce only notes itself)."""
    nid, channel = match.notification_id, match.channel
    at = event.occurred_at or datetime.now(UTC)
    if event.kind == "bounced" and not event.permanent:
        await feedback.add_event(conn, nid, at, "soft_bounce",
                                 f"{channel}: {match.provider} reports a soft bounce and keeps trying: {event.reason}")
        return
    detail = f"{channel} {event.kind} ({match.provider}): {event.reason}"
    if await feedback.end_delivery(conn, nid, channel, event.kind, event.reason):
        await feedback.add_event(conn, nid, at, event.kind, detail)
        if event.kind in ("bounced", "complained"):
            await feedback.queue_status_event(conn, nid, event.kind, channel, detail)
        await feedback.end_if_none_arrived(conn, nid, detail)


async def gone_at_send(pool: asyncpg.Pool, *, notification_id: str, channel: str, address: str, provider: str,
                       reason: str, error: str) -> None:
    """The provider answered a send that the address will never take a message again: in one transaction, the
    delivery ends `bounced` with the provider's answer as its error, a `bounced` timeline event and status webhook
    event say so, and the address is suppressed on its channel (`reason` the vendor's short name for why, `source`
    the provider). The workflow records the same end and the notification's (ADDRESS_GONE_PATCH)."""
    error = error.replace("\x00", "")  # the vendor's words: PostgreSQL text cannot hold a NUL, the record must not fail
    detail = f"{channel} bounced ({provider}): {error}; the address is suppressed ({reason})"
    async with pool.acquire() as conn, conn.transaction():
        if await feedback.end_delivery(conn, notification_id, channel, "bounced", error):
            await feedback.add_event(conn, notification_id, datetime.now(UTC), "bounced", detail)
            await feedback.queue_status_event(conn, notification_id, "bounced", channel, detail)
        await suppressions.suppress(conn, channel=channel, address=address, reason=reason, source=provider)
