"""Amazon SES notifications delivered through an SNS topic, verified by SNS's message signature.

SNS signs the canonical string of the message's fields (for a Notification: Message, MessageId, Subject when
present, Timestamp, TopicArn, Type; for a (Un)SubscriptionConfirmation: Message, MessageId, SubscribeURL,
Timestamp, Token, TopicArn, Type; each as `name\\nvalue\\n`) with RSA PKCS#1 v1.5, SHA-1 for SignatureVersion 1
and SHA-256 for 2. The public key is the one in the certificate at `SigningCertURL`, which is fetched only from
https on an `sns.<region>.amazonaws.com(.cn)` host (`CertificateTrust` says otherwise in tests), over verified
TLS, and cached by URL. A valid signature only proves that SNS sent the message, not that it is Herald's topic:
`TopicArn` must be one the integration names (`topic_arn`). `Timestamp` must be within `max_age_s` (default one
hour, SNS's own limit on a message's delivery attempts) of now.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core.errors import Problem
from providers.base import PermanentDeliveryError, TransientDeliveryError
from providers.feedback import (
    BadFeedback,
    BadSignature,
    FeedbackEvent,
    Kind,
    check_fresh,
    from_iso,
    json_body,
    now_utc,
    short,
)
from providers.http_gateway import request

DEFAULT_MAX_AGE_S = 3600.0
AWS_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_CONFIRMATIONS = ("SubscriptionConfirmation", "UnsubscribeConfirmation")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_KINDS: dict[str, Kind] = {"Delivery": "delivered", "Bounce": "bounced", "Complaint": "complained"}


@dataclass(frozen=True)
class CertificateTrust:
    """Where a signing certificate may be fetched from: https, a host matching `host`, and `port` (None: the
    default one). The default is Amazon's SNS hosts; tests name their own loopback server."""

    host: re.Pattern[str] = AWS_SNS_HOST
    port: int | None = None

    def permits(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        return (parts.scheme == "https" and parts.hostname is not None and bool(self.host.match(parts.hostname))
                and port in ((None, 443) if self.port is None else (self.port,)) and not parts.username)


@dataclass
class Certificates:
    """Fetches SNS signing certificates once per URL (SNS rotates them rarely, under a new URL each time).
    `client` must verify TLS: the https fetch is what ties the certificate to Amazon."""

    client: httpx.AsyncClient
    trust: CertificateTrust = field(default_factory=CertificateTrust)
    deadline_s: float = 10.0
    capacity: int = 32
    _keys: OrderedDict[str, rsa.RSAPublicKey] = field(default_factory=OrderedDict)

    async def public_key(self, url: str) -> rsa.RSAPublicKey:
        if not self.trust.permits(url):
            raise BadSignature("ses: SigningCertURL is not an SNS certificate address")
        if url in self._keys:
            self._keys.move_to_end(url)
            return self._keys[url]
        key = await self._fetch(url)
        self._keys[url] = key
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return key

    async def _fetch(self, url: str) -> rsa.RSAPublicKey:
        try:
            answer = await request(self.client, "GET", url, name="sns-certificate", content=b"", headers={},
                                   allow=None, deadline_s=self.deadline_s)
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            # Not the sender's fault, maybe passing: SNS retries a callback that is not answered 2xx.
            raise Problem(503, "unavailable", "ses: the SNS signing certificate could not be fetched") from exc
        if answer.status != 200:
            raise Problem(503, "unavailable", f"ses: the SNS signing certificate answered HTTP {answer.status}")
        try:
            key = x509.load_pem_x509_certificate(answer.body).public_key()
        except ValueError as exc:
            raise BadSignature("ses: SigningCertURL does not hold a PEM certificate") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            raise BadSignature("ses: the SNS signing certificate does not hold an RSA key")
        return key


@dataclass(frozen=True)
class SnsFeedback:
    """What one SNS callback says: SES events, or (a subscription being confirmed) the URL to GET to confirm."""

    events: list[FeedbackEvent]
    subscribe_url: str | None = None


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    names = _CONFIRMATION_FIELDS if message.get("Type") in _CONFIRMATIONS else _NOTIFICATION_FIELDS
    text = "".join(f"{name}\n{message[name]}\n" for name in names if isinstance(message.get(name), str))
    return text.encode()


def _topics(config: Mapping[str, Any]) -> set[str]:
    value = config.get("topic_arn")
    topics = {value} if isinstance(value, str) else set(value) if isinstance(value, list) else set()
    if not topics or not all(isinstance(topic, str) and topic for topic in topics):
        raise BadSignature("ses: the integration has no 'topic_arn' to accept messages from")
    return topics


async def verify(config: Mapping[str, Any], raw_body: bytes, certificates: Certificates,
                 now: datetime | None = None) -> dict[str, Any]:
    """The SNS message, once its signature, topic and age are proven; BadSignature otherwise."""
    topics = _topics(config)
    try:
        message = json_body(raw_body, "ses")
    except BadFeedback as exc:
        raise BadSignature("ses: the body is not JSON, so its signature cannot be checked") from exc
    if not isinstance(message, dict):
        raise BadSignature("ses: the body is not an SNS message")
    version, cert_url, given = (message.get(name) for name in ("SignatureVersion", "SigningCertURL", "Signature"))
    algorithm = _HASHES.get(version) if isinstance(version, str) else None
    if algorithm is None or not isinstance(cert_url, str) or not isinstance(given, str):
        raise BadSignature("ses: no SNS signature (SignatureVersion 1 or 2, SigningCertURL, Signature)")
    if not all(isinstance(message.get(name), str) for name in ("Type", "MessageId", "Timestamp", "TopicArn")):
        raise BadSignature("ses: the SNS message lacks the fields its signature covers")
    key = await certificates.public_key(cert_url)
    try:
        key.verify(base64.b64decode(given, validate=True), string_to_sign(message), padding.PKCS1v15(),
                   algorithm())
    except (binascii.Error, InvalidSignature) as exc:
        raise BadSignature("ses: the SNS signature does not match") from exc
    if message["TopicArn"] not in topics:
        raise BadSignature("ses: the message comes from a topic this integration does not name")
    signed_at = from_iso(message["Timestamp"])
    if signed_at is None:
        raise BadSignature("ses: the SNS Timestamp is not a time")
    check_fresh(signed_at, now or now_utc(), float(config.get("max_age_s") or DEFAULT_MAX_AGE_S), "ses")
    return message


async def verify_and_read(config: Mapping[str, Any], url: str, headers: Mapping[str, str], raw_body: bytes, *,
                          certificates: Certificates, now: datetime | None = None) -> SnsFeedback:
    """SES `Delivery`, `Bounce` (bounceType `Permanent` is hard; `Transient` and `Undetermined` soft) and
    `Complaint`, one event per recipient; a SubscriptionConfirmation yields its SubscribeURL and no events.
    config: `topic_arn` (one ARN or a list), optionally `max_age_s`."""
    message = await verify(config, raw_body, certificates, now)
    if message["Type"] == "SubscriptionConfirmation":
        subscribe_url = message.get("SubscribeURL")
        # The endpoint will GET it: it must be SNS's, not an address an attacker slipped into a signed field.
        if not isinstance(subscribe_url, str) or not certificates.trust.permits(subscribe_url):
            raise BadFeedback("ses: the SubscribeURL is not an SNS address")
        return SnsFeedback(events=[], subscribe_url=subscribe_url)
    if message["Type"] != "Notification":
        return SnsFeedback(events=[])
    try:
        notice = json.loads(message.get("Message") or "")
    except ValueError as exc:
        raise BadFeedback("ses: the SNS Message is not an SES notification") from exc
    if not isinstance(notice, dict):
        raise BadFeedback("ses: the SNS Message is not an SES notification")
    return SnsFeedback(events=_events(notice, message["MessageId"]))


def _events(notice: dict[str, Any], sns_id: str) -> list[FeedbackEvent]:
    # SES notifications name their type `notificationType`; SES event publishing names it `eventType`.
    name = str(notice.get("notificationType") or notice.get("eventType") or "")
    mail = notice.get("mail")
    provider_id = mail.get("messageId") if isinstance(mail, dict) else None
    if not isinstance(provider_id, str) or not provider_id:
        raise BadFeedback("ses: the notification names no mail.messageId")
    kind = _KINDS.get(name, "other")
    detail = notice.get(name.lower())
    detail = detail if isinstance(detail, dict) else {}
    permanent = kind == "bounced" and detail.get("bounceType") == "Permanent"
    if kind == "delivered":
        people: list[tuple[str, object]] = [(str(r), detail.get("smtpResponse")) for r in detail.get("recipients", [])]
    elif kind == "bounced":
        people = [(str(r.get("emailAddress")), r.get("diagnosticCode") or r.get("status")
                   or f"{detail.get('bounceType')}/{detail.get('bounceSubType')}")
                  for r in detail.get("bouncedRecipients", []) if isinstance(r, dict)]
    elif kind == "complained":
        people = [(str(r.get("emailAddress")), detail.get("complaintFeedbackType") or "complaint")
                  for r in detail.get("complainedRecipients", []) if isinstance(r, dict)]
    else:
        people = [("", name)]
    occurred_at = from_iso(detail.get("timestamp")) or from_iso(notice.get("mail", {}).get("timestamp"))
    # SNS keeps a message's MessageId across its retries; one event per recipient within it.
    return [FeedbackEvent(provider_message_id=provider_id, kind=kind, permanent=permanent, reason=short(reason),
                          occurred_at=occurred_at, address=address or None, event_id=f"{sns_id}:{address}")
            for address, reason in people]
