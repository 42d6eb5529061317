"""HTTP delivery: a user's webhook, or an SMS / push gateway. Signed JSON, classified answers.

2xx is delivered; 408, 429, 5xx and network errors are transient (honouring `Retry-After`); any other 4xx is
permanent. Redirects are not followed: a gateway that moved must be reconfigured, not guessed at.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from providers import signing
from providers.base import OutgoingMessage, PermanentDeliveryError, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist, vet

Payload = Callable[[OutgoingMessage], dict[str, Any]]
_TRANSIENT_STATUSES = {408, 429}


def webhook_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"type": "notification", "notification_id": message.notification_id, "user_id": message.user_id,
            "subject": message.subject, "body": message.body, "html": message.html}


def sms_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"to": message.address, "text": message.body, "notification_id": message.notification_id}


def push_payload(message: OutgoingMessage) -> dict[str, Any]:
    return {"token": message.address, "title": message.subject, "body": message.body,
            "notification_id": message.notification_id}


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpGatewayProvider:
    """Posts one signed JSON request per attempt. `url=None` sends to the message's address (webhooks)."""

    def __init__(self, name: str, client: httpx.AsyncClient, secret: str, payload: Payload,
                 url: str | None = None, allow: Allowlist | None = None):
        self.name = name
        self._client = client
        self._secret = secret
        self._payload = payload
        self._url = url
        # Only addresses that users supply are vetted; an operator's gateway URL is trusted as configured.
        self._allow = allow

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        # The webhook id is the delivery's, not the attempt's: receivers deduplicate on it.
        response = await post_signed(self._client, name=self.name, url=self._url or message.address,
                                     secret=self._secret, webhook_id=message.delivery_key,
                                     payload=self._payload(message), allow=self._allow)
        return ProviderReceipt(provider=self.name, provider_message_id=_message_id(response, message))


async def post_signed(client: httpx.AsyncClient, *, name: str, url: str, secret: str, webhook_id: str,
                      payload: dict[str, Any], allow: Allowlist | None) -> httpx.Response:
    """Posts one Standard Webhooks request and classifies the answer: returns a 2xx response, raises
    TransientDeliveryError (408, 429, 5xx, network; with Retry-After) or PermanentDeliveryError (other 4xx).
    `allow` set: the URL is a user's, vetted against the egress rules and connected to by address."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signing.headers(secret, webhook_id, int(time.time()), body)
    extensions: dict[str, Any] = {}
    if allow is not None:
        target = await vet(url, allow)
        url, headers["Host"] = target.url, target.host_header
        extensions["sni_hostname"] = target.hostname
    try:
        response = await client.post(url, content=body, headers=headers, extensions=extensions)
    except httpx.InvalidURL as exc:
        raise PermanentDeliveryError(f"{name}: invalid URL: {exc}") from exc
    except httpx.HTTPError as exc:
        raise TransientDeliveryError(f"{name}: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return response
    detail = f"{name}: HTTP {status} {response.text[:200]!r}"
    if status in _TRANSIENT_STATUSES or status >= 500:
        raise TransientDeliveryError(detail, retry_after_s=retry_after_seconds(response.headers.get("retry-after")))
    raise PermanentDeliveryError(detail)


def _message_id(response: httpx.Response, message: OutgoingMessage) -> str:
    """The gateway's own id when its JSON answer carries one, else the delivery key."""
    try:
        data = response.json()
    except ValueError:
        return message.delivery_key
    if isinstance(data, dict):
        for key in ("id", "message_id", "sid"):
            if isinstance(data.get(key), str | int):
                return str(data[key])
    return message.delivery_key
