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

import asyncio
import logging
import re
from collections import deque
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


class FeedbackSources:
    """This process's sources as the integration watch (services/integration_watch.py) last read the stored
    integrations, so a callback costs no read and no decryption. The watch reads them again on each change's
    announcement and every HERALD_INTEGRATIONS_POLL_S: an integration edited, its secret rotated, or removed takes
    effect within seconds. An id not among them (created since, or unknown) is looked up with `read`."""

    def __init__(self, read: SourceLookup):
        self._read = read
        self._known: dict[str, FeedbackSource] = {}

    def replace(self, sources: Mapping[str, FeedbackSource]) -> None:
        self._known = dict(sources)

    async def __call__(self, integration_id: str) -> FeedbackSource | None:
        source = self._known.get(integration_id)
        return source if source is not None else await self._read(integration_id)


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


@dataclass
class _Waiting:
    acting: list[FeedbackEvent]
    incoming: list[feedback.Incoming]
    ends: bool  # some event ends its delivery or notes a soft bounce: a transaction
    taken: asyncio.Future[list[feedback.Taken]]


class Batches:
    """Callbacks that wait together, applied together. Each batch holds one of the process's feedback `turns`; the
    callbacks that come while none is free wait and go in the next batch of their kind, up to `most` events in
    one: callbacks of arrivals only in one statement, callbacks that end deliveries in one transaction. Twilio and
    Mailgun post one event per callback, hundreds a second at a sender's peak: then PostgreSQL runs and commits a
    statement or a transaction per batch, not per callback. A callback that finds a turn free goes at once, alone.

    In a batch, as in one callback, an ending wins over an arrival of the same delivery: the delivery ends as if
    the ending had come first, which it may have."""

    def __init__(self, pool: asyncpg.Pool, turns: asyncio.Semaphore, at_once: int, *, most: int = 500):
        self._pool, self._turns = pool, turns
        self._at_once, self._most = at_once, most
        self._waiting: deque[_Waiting] = deque()
        self._running: set[asyncio.Task[None]] = set()

    async def take(self, acting: list[FeedbackEvent], incoming: list[feedback.Incoming],
                   ends: bool) -> list[feedback.Taken]:
        """What `store.feedback.take` answers for these events, as if they had been taken alone: positions among
        them, and an event that an earlier callback of the same batch repeats is not claimed by this one. With
        `ends`, the endings are written too, in the batch's transaction."""
        waiting = _Waiting(acting, incoming, ends, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if len(self._running) < self._at_once:
            self._running.add(asyncio.create_task(self._apply_while_waiting()))
        # Shielded: a vendor that hangs up does not cancel what the batch applies for the others.
        return await asyncio.shield(waiting.taken)

    def _next_batch(self) -> list[_Waiting]:
        """The longest-waiting callback and those of its kind behind it, up to `most` events."""
        batch: list[_Waiting] = []
        rest: deque[_Waiting] = deque()
        size = 0
        for one in self._waiting:
            if not batch or (one.ends == batch[0].ends and size + len(one.incoming) <= self._most):
                batch.append(one)
                size += len(one.incoming)
            else:
                rest.append(one)
        self._waiting = rest
        return batch

    async def _apply_while_waiting(self) -> None:
        try:
            while self._waiting:
                async with self._turns:
                    batch = self._next_batch()
                    if not batch:  # another runner took them while this one waited for its turn
                        return
                    try:
                        outcomes: list[list[feedback.Taken] | Exception] = list(await self._apply(batch))
                    except Exception as exc:
                        outcomes = [exc] if len(batch) == 1 else await self._apply_alone(batch)
                for one, outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, Exception):  # the callback answers the error; its vendor posts it again
                        one.taken.set_exception(outcome)
                    else:
                        one.taken.set_result(outcome)
        finally:
            # Leaves the running set with no wait between the last look at the queue and here: a callback that
            # comes after that look finds a runner slot free and starts one.
            self._running.discard(asyncio.current_task())

    async def _apply(self, batch: list[_Waiting]) -> list[list[feedback.Taken]]:
        events = [event for one in batch for event in one.incoming]
        if not batch[0].ends:
            return _per_callback(batch, await feedback.take(self._pool, events))
        async with self._pool.acquire() as conn, conn.transaction():
            answers = _per_callback(batch, await feedback.take(conn, events))
            await _end(conn, [(one.acting, its) for one, its in zip(batch, answers, strict=True)])
        return answers

    async def _apply_alone(self, batch: list[_Waiting]) -> list[list[feedback.Taken] | Exception]:
        """After a batch failed: each callback again on its own, so that one callback that cannot be applied does
        not fail those that waited with it."""
        outcomes: list[list[feedback.Taken] | Exception] = []
        for one in batch:
            try:
                outcomes += await self._apply([one])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes


def _per_callback(batch: list[_Waiting], taken: list[feedback.Taken]) -> list[list[feedback.Taken]]:
    """The statement's rows split by callback, positions counted within each; the pairs the statement claimed once
    for two callbacks (a vendor's retry that came with the original) go to the first."""
    ends, total = [], 0
    for one in batch:
        total += len(one.incoming)
        ends.append(total)
    events = [event for one in batch for event in one.incoming]
    split: list[list[feedback.Taken]] = [[] for _ in batch]
    seen: dict[tuple[str, str, str, str], int] = {}
    index = 0
    for match in taken:  # in position order
        while match.position > ends[index]:
            index += 1
        event = events[match.position - 1]
        key = (event.source, event.event_id, match.notification_id, match.channel)
        first = seen.setdefault(key, index)
        split[index].append(replace(match, position=match.position - (ends[index - 1] if index else 0),
                                    claimed=match.claimed and first == index))
    return split


async def receive(pool: asyncpg.Pool, source: FeedbackSource, url: str, headers: Mapping[str, str],
                  raw_body: bytes, certificates: ses.Certificates | None = None, *,
                  batches: Batches | None = None) -> Applied:
    """Verifies the callback (BadSignature, a 401, changes nothing) and applies its events."""
    events = await read(source, url, headers, raw_body, certificates)
    return await apply(pool, source.integration_id, events, batches=batches)


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


async def apply(pool: asyncpg.Pool, source: str, events: list[FeedbackEvent], *,
                batches: Batches | None = None) -> Applied:
    """Applies each event to the deliveries its message id names, each (event, delivery) once.

    A callback's events are applied together whatever their number (SendGrid posts hundreds at a time): a callback
    that only reports arrivals in one statement, one that ends deliveries (or notes a soft bounce) in one
    transaction of two (`store/feedback.py`); with `batches`, together with the callbacks of its kind that wait
    with it. Endings win over arrivals of the same callback, so a "delivered" in the same callback as a bounce
    never confirms it either."""
    applied = Applied()
    acting = []
    for event in map(_storable, events):
        if event.kind == "other":
            applied.ignored += 1
        else:
            acting.append(event)
    if not acting:
        return applied
    now = datetime.now(UTC)
    incoming = [feedback.Incoming(source, event.event_id, message_ids(event.provider_message_id)[0], event.kind,
                                  _ends(event), (event.occurred_at or now) if event.kind == "delivered" else None)
                for event in acting]
    ends = not all(event.kind == "delivered" for event in acting)
    if batches is not None:
        taken = await batches.take(acting, incoming, ends)
    elif ends:
        async with pool.acquire() as conn, conn.transaction():
            taken = await feedback.take(conn, incoming)
            await _end(conn, [(acting, taken)])
    else:
        taken = await feedback.take(pool, incoming)
    fresh = _fresh(acting, taken)
    applied.unknown = len(acting) - len({match.position for match in taken})
    applied.applied = len(fresh)
    applied.duplicate = len(taken) - len(fresh)
    if applied.applied or applied.unknown:
        log.info("feedback applied", extra={"source": source, "applied": applied.applied,
                                            "duplicate": applied.duplicate, "unknown": applied.unknown})
    return applied


async def _end(conn: Connection, callbacks: list[tuple[list[FeedbackEvent], list[feedback.Taken]]]) -> None:
    """Writes what the claimed bounces, complaints and undeliveries of these callbacks do, in the transaction
    that took them."""
    now = datetime.now(UTC)
    endings: list[feedback.Ending] = []
    suppress: list[tuple[str, str, str]] = []
    for acting, taken in callbacks:
        its_endings, its_suppress = _endings(_fresh(acting, taken), now)
        endings += its_endings
        suppress += its_suppress
    if endings or suppress:
        await feedback.end_all(conn, endings, suppressions.normal_forms(suppress), source="feedback")


def _ends(event: FeedbackEvent) -> bool:
    """Whether the event ends its delivery: anything but an arrival or a soft bounce (the vendor keeps trying)."""
    return event.kind != "delivered" and not (event.kind == "bounced" and not event.permanent)


def _fresh(acting: list[FeedbackEvent], taken: list[feedback.Taken]) -> list[tuple[FeedbackEvent, feedback.Taken]]:
    """The (event, delivery) pairs this callback applies: an event a callback repeats is claimed once, by its first
    occurrence."""
    seen: set[tuple[str, str, str]] = set()
    fresh = []
    for match in taken:  # in the callback's order
        event = acting[match.position - 1]
        key = (event.event_id, match.notification_id, match.channel)
        if match.claimed and key not in seen:
            seen.add(key)
            fresh.append((event, match))
    return fresh


def _endings(fresh: list[tuple[FeedbackEvent, feedback.Taken]],
             now: datetime) -> tuple[list[feedback.Ending], list[tuple[str, str, str]]]:
    """What the claimed bounces, complaints and undeliveries write, and the addresses they suppress: a hard
    bounce, a complaint or a permanent undelivery suppresses the address on its channel."""
    endings: list[feedback.Ending] = []
    suppress: list[tuple[str, str, str]] = []
    for event, match in fresh:
        if event.kind == "delivered":
            continue
        channel, at = match.channel, event.occurred_at or now
        if _ends(event):
            endings.append(feedback.Ending(match.notification_id, channel, event.kind, True, event.reason, at,
                                           f"{channel} {event.kind} ({match.provider}): {event.reason}"))
        else:
            endings.append(feedback.Ending(
                match.notification_id, channel, "soft_bounce", False, event.reason, at,
                f"{channel}: {match.provider} reports a soft bounce and keeps trying: {event.reason}"))
        address = event.address or match.address
        if (event.kind == "complained" or event.permanent) and address:
            suppress.append((channel, address, f"{event.kind}: {event.reason}"))
    return endings, suppress


def _storable(event: FeedbackEvent) -> FeedbackEvent:
    """The vendor's text without NUL characters, which PostgreSQL text cannot hold: a signed callback carrying one
    must not fail, or the vendor would repeat it forever."""
    def clean(text: str) -> str:
        return text.replace("\x00", "")
    return replace(event, provider_message_id=clean(event.provider_message_id), reason=clean(event.reason),
                   event_id=clean(event.event_id), address=clean(event.address) if event.address else None)


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
