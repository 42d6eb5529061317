"""Standard Webhooks signatures (standardwebhooks.com): what every outgoing HTTP request of Herald carries."""

from __future__ import annotations

import base64
import hashlib
import hmac


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part of a `whsec_` secret."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
        # Gateways that deduplicate on this header name see the same stable key.
        "Idempotency-Key": webhook_id,
        "Content-Type": "application/json",
    }
