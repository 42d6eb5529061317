"""Mailgun's webhooks: one JSON event per request, signed inside the body.

`signature.signature` is the hex HMAC-SHA256, keyed with the domain's HTTP webhook signing key
(`webhook_signing_key`), of `signature.timestamp` followed by `signature.token`, as Mailgun documents. The
timestamp must be within `max_age_s` (default 900 s) of now. The body is parsed to find the signature, but
nothing of `event-data` is read before it is proven.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from providers.feedback import (
    BadFeedback,
    BadSignature,
    FeedbackEvent,
    Kind,
    check_fresh,
    from_unix,
    json_body,
    now_utc,
    same,
    setting,
    short,
    stable_id,
)

DEFAULT_MAX_AGE_S = 900.0
_KINDS: dict[str, Kind] = {"delivered": "delivered", "failed": "bounced", "complained": "complained"}
# `failed` because Mailgun itself would not send (the address is on a suppression list) is not a bounce.
_SUPPRESSED = frozenset({"suppress-bounce", "suppress-complaint", "suppress-unsubscribe"})


def signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify(config: Mapping[str, Any], raw_body: bytes, now: datetime | None = None) -> dict[str, Any]:
    """The callback's body, once its signature is proven; BadSignature otherwise."""
    signing_key = setting(config, "webhook_signing_key")
    try:
        body = json_body(raw_body, "mailgun")
    except BadFeedback as exc:
        raise BadSignature("mailgun: the body is not JSON, so its signature cannot be checked") from exc
    signed = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(signed, dict):
        raise BadSignature("mailgun: no signature in the body")
    timestamp, token, given = (signed.get(name) for name in ("timestamp", "token", "signature"))
    if not (isinstance(timestamp, str | int) and isinstance(token, str) and isinstance(given, str) and token):
        raise BadSignature("mailgun: the signature needs timestamp, token and signature")
    if not same(signature(signing_key, str(timestamp), token), given.lower()):
        raise BadSignature("mailgun: the signature does not match")
    signed_at = from_unix(timestamp)
    if signed_at is None:
        raise BadSignature("mailgun: the signed timestamp is not a Unix time")
    check_fresh(signed_at, now or now_utc(), float(config.get("max_age_s") or DEFAULT_MAX_AGE_S), "mailgun")
    return dict(body)


def message_id(value: str) -> str:
    """Mailgun answers a send with `<id@domain>` and reports events with `id@domain`: one form for both."""
    return value.strip().removeprefix("<").removesuffix(">")


def verify_and_read(config: Mapping[str, Any], url: str, headers: Mapping[str, str],
                    raw_body: bytes, now: datetime | None = None) -> list[FeedbackEvent]:
    """Events `delivered`, `failed` (severity `permanent` or `temporary`) and `complained`; the rest (accepted,
    opened, clicked, unsubscribed) are `other`. config: `webhook_signing_key`, optionally `max_age_s`."""
    data = verify(config, raw_body, now).get("event-data")
    if not isinstance(data, dict):
        raise BadFeedback("mailgun: no event-data in the body")
    message = data.get("message")
    headers_ = message.get("headers") if isinstance(message, dict) else None
    provider_id = headers_.get("message-id") if isinstance(headers_, dict) else None
    if not isinstance(provider_id, str) or not provider_id:
        raise BadFeedback("mailgun: the event names no message-id")
    name = str(data.get("event") or "")
    kind = _KINDS.get(name, "other")
    if kind == "bounced" and data.get("reason") in _SUPPRESSED:
        kind = "undelivered"
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    permanent = kind in ("bounced", "undelivered") and data.get("severity") == "permanent"
    reason = status.get("description") or status.get("message") or data.get("reason") or name
    event_id = data.get("id") or stable_id("mailgun", provider_id, name, data.get("timestamp"), data.get("recipient"))
    return [FeedbackEvent(provider_message_id=message_id(provider_id), kind=kind, permanent=permanent,
                          reason=short(reason), occurred_at=from_unix(data.get("timestamp")),
                          address=str(data["recipient"]) if data.get("recipient") else None,
                          event_id=str(event_id))]
