"""Postmark's webhooks: one JSON record per request, authenticated with HTTP Basic credentials.

Postmark signs nothing; it sends the username and password written into the webhook URL as HTTP Basic
`Authorization`. Herald compares both, in constant time, with `webhook_username` and `webhook_password` in the
integration's config. Postmark sends no signed timestamp, so there is no replay window; a replayed record
repeats its event id and is applied once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from providers.feedback import (
    BadFeedback,
    BadSignature,
    FeedbackEvent,
    Kind,
    from_iso,
    header,
    json_body,
    same,
    setting,
    short,
    stable_id,
)

# Bounce types that say the address will never take mail; Postmark also deactivates such addresses (`Inactive`).
HARD_TYPES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked", "SMTPApiError"})
# Bounce records that are not a failed delivery: auto-replies, delay notices, list traffic.
NOT_BOUNCES = frozenset({"Transient", "AutoResponder", "Subscribe", "Unsubscribe", "OpenRelayTest",
                         "ChallengeVerification", "AddressChange", "VirusNotification", "InboundError"})


def verify(config: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    username, password = setting(config, "webhook_username"), setting(config, "webhook_password")
    given = header(headers, "Authorization") or ""
    scheme, _, encoded = given.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise BadSignature("postmark: no HTTP Basic credentials")
    try:
        user, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise BadSignature("postmark: the Basic credentials are not base64") from exc
    # Both compared whatever the first says, so timing tells nothing about which one was wrong.
    user_ok, secret_ok = same(username, user), same(password, secret)
    if not (colon and user_ok and secret_ok):
        raise BadSignature("postmark: the Basic credentials do not match")


def verify_and_read(config: Mapping[str, Any], url: str, headers: Mapping[str, str],
                    raw_body: bytes) -> list[FeedbackEvent]:
    """RecordType `Delivery`, `Bounce` (hard or soft by its `Type`) and `SpamComplaint`; the rest (opens,
    clicks, subscription changes) are `other`. config: `webhook_username`, `webhook_password`."""
    verify(config, headers)
    record = json_body(raw_body, "postmark")
    if not isinstance(record, dict):
        raise BadFeedback("postmark: the body is not a JSON object")
    message_id = record.get("MessageID")
    if not isinstance(message_id, str) or not message_id:
        raise BadFeedback("postmark: the record names no MessageID")
    record_type = str(record.get("RecordType") or "")
    bounce_type = str(record.get("Type") or "")
    kind: Kind = "other"
    if record_type == "Delivery":
        kind = "delivered"
    elif record_type == "SpamComplaint" or (record_type == "Bounce" and bounce_type == "SpamComplaint"):
        kind = "complained"
    elif record_type == "Bounce" and bounce_type not in NOT_BOUNCES:
        kind = "bounced"
    permanent = kind == "bounced" and (bounce_type in HARD_TYPES or record.get("Inactive") is True)
    reason = record.get("Description") or record.get("Details") or bounce_type or record_type
    occurred = record.get("DeliveredAt") or record.get("BouncedAt") or record.get("ReceivedAt")
    address = record.get("Recipient") or record.get("Email")
    # Bounces and complaints carry their own ID; deliveries do not, and the message names one delivery each.
    event_id = (f"{record_type}:{record['ID']}" if record.get("ID") is not None
                else stable_id("postmark", record_type, message_id, address))
    return [FeedbackEvent(provider_message_id=message_id, kind=kind, permanent=permanent, reason=short(reason),
                          occurred_at=from_iso(occurred), address=str(address) if address else None,
                          event_id=event_id)]
