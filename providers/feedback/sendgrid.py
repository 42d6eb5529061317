"""SendGrid's signed Event Webhook: a JSON array of events, signed with ECDSA P-256.

The signature (`X-Twilio-Email-Event-Webhook-Signature`, base64 DER) is over the timestamp header's value
(`X-Twilio-Email-Event-Webhook-Timestamp`) followed by the raw body, hashed with SHA-256, checked against the
public key SendGrid shows for the webhook (`webhook_verification_key`, base64 DER SubjectPublicKeyInfo), as
SendGrid's own EventWebhook helper does. The timestamp must be within `max_age_s` (default 900 s) of now.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from providers.feedback import (
    BadFeedback,
    BadSignature,
    FeedbackEvent,
    Kind,
    check_fresh,
    from_unix,
    header,
    json_body,
    now_utc,
    setting,
    short,
    stable_id,
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
DEFAULT_MAX_AGE_S = 900.0
_KINDS: dict[str, Kind] = {"delivered": "delivered", "bounce": "bounced", "dropped": "undelivered",
                           "spamreport": "complained"}


def public_key(config: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """SendGrid shows the key as bare base64 DER; a PEM copy of it (as its own helper builds) is taken too."""
    return _loaded(setting(config, "webhook_verification_key").strip())


@functools.lru_cache(maxsize=64)
def _loaded(text: str) -> ec.EllipticCurvePublicKey:
    # Parsed once per key text: a busy webhook posts many times a second, and a rotated key is another text.
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("sendgrid: webhook_verification_key is not a base64 DER or PEM public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadSignature("sendgrid: webhook_verification_key is not an ECDSA P-256 key")
    return key


def verify(config: Mapping[str, Any], headers: Mapping[str, str], raw_body: bytes,
           now: datetime | None = None) -> None:
    key = public_key(config)
    given, timestamp = header(headers, SIGNATURE_HEADER), header(headers, TIMESTAMP_HEADER)
    if not given or not timestamp:
        raise BadSignature(f"sendgrid: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    try:
        signature = base64.b64decode(given, validate=True)
        key.verify(signature, timestamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, InvalidSignature) as exc:
        raise BadSignature(f"sendgrid: {SIGNATURE_HEADER} does not match") from exc
    signed_at = from_unix(timestamp)
    if signed_at is None:
        raise BadSignature(f"sendgrid: {TIMESTAMP_HEADER} is not a Unix time")
    max_age_s = float(config.get("max_age_s") or DEFAULT_MAX_AGE_S)
    check_fresh(signed_at, now or now_utc(), max_age_s, "sendgrid")


def message_id(sg_message_id: str) -> str:
    """The `X-Message-Id` SendGrid answered the send with: `sg_message_id` is that id plus a routing suffix."""
    return sg_message_id.split(".filter", 1)[0].split(".recvd", 1)[0]


def verify_and_read(config: Mapping[str, Any], url: str, headers: Mapping[str, str],
                    raw_body: bytes, now: datetime | None = None) -> list[FeedbackEvent]:
    """Events `delivered`, `bounce` (type `blocked` is a soft bounce), `dropped` (SendGrid would not send: a
    permanent `undelivered`) and `spamreport`; the rest (processed, deferred, opens, clicks) are `other`.
    config: `webhook_verification_key`, optionally `max_age_s`."""
    verify(config, headers, raw_body, now)
    events = json_body(raw_body, "sendgrid")
    if not isinstance(events, list):
        raise BadFeedback("sendgrid: the body is not a JSON array of events")
    return [_event(item) for item in events if isinstance(item, dict) and item.get("sg_message_id")]


def _event(item: dict[str, Any]) -> FeedbackEvent:
    name = str(item.get("event") or "")
    kind = _KINDS.get(name, "other")
    permanent = kind == "undelivered" or (kind == "bounced" and item.get("type") != "blocked")
    reason = item.get("reason") or item.get("response") or item.get("type") or name
    event_id = item.get("sg_event_id") or stable_id("sendgrid", item.get("sg_message_id"), name,
                                                    item.get("timestamp"), item.get("email"))
    return FeedbackEvent(provider_message_id=message_id(str(item["sg_message_id"])), kind=kind,
                         permanent=permanent, reason=short(reason), occurred_at=from_unix(item.get("timestamp")),
                         address=str(item["email"]) if item.get("email") else None, event_id=str(event_id))
