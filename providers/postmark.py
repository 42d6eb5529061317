"""Email through Postmark's Email API: `POST {base_url}/email`, the server token in `X-Postmark-Server-Token`,
JSON both ways.

Postmark answers 200 with `MessageID` (the receipt) and `ErrorCode: 0`. 429 is transient (honouring
`Retry-After`), 5xx is transient, and so is API error code 100 (maintenance); 401 (a bad server token) and 422
with any other `ErrorCode` (300 an invalid request or address, 400/401 an unconfirmed sender signature, 406 an
inactive recipient, 412/413 an account that may not send) are permanent. The Email API has no idempotency key:
the delivery key travels as an email header and as `Metadata`, which Postmark returns in its webhooks.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers.base import OutgoingMessage, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import request
from providers.vendor_email import DELIVERY_KEY_HEADER, Secret, Sender, Text, accepted, by_status, text_and_html, words
from providers.vendor_http import PUBLIC_ONLY, BaseUrl, vetting

CHANNELS = ("email",)
SECRETS = ("server_token", "webhook_password")
DEFAULT_BASE_URL = "https://api.postmarkapp.com"
# Postmark API error codes that a later attempt can get past.
_TRANSIENT_CODES = {100}  # maintenance


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    server_token: Secret
    sender: Sender = Field(alias="from")
    # Absent: the server's default transactional stream ("outbound").
    message_stream: Text | None = None
    # The HTTP Basic credentials Postmark's webhooks carry (the feedback endpoint checks them), not used to send.
    webhook_username: Text | None = None
    webhook_password: Secret | None = None
    base_url: BaseUrl = DEFAULT_BASE_URL


def payload(message: OutgoingMessage, config: Config) -> dict[str, Any]:
    text, html = text_and_html(message)
    body: dict[str, Any] = {"From": config.sender, "To": message.address, "Subject": message.subject,
                            "TextBody": text}
    if html:
        body["HtmlBody"] = html
    if config.message_stream:
        body["MessageStream"] = config.message_stream
    body["Headers"] = [{"Name": DELIVERY_KEY_HEADER, "Value": message.delivery_key}]
    body["Metadata"] = {"herald_delivery_key": message.delivery_key,
                        "herald_notification_id": message.notification_id}
    return body


def _error(body: bytes) -> tuple[int | None, str | None]:
    """Postmark's error body: `{"ErrorCode": int, "Message": str}`."""
    try:
        data = json.loads(body)
        return int(data["ErrorCode"]), str(data["Message"])
    except (ValueError, KeyError, TypeError):
        return None, None


class PostmarkProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vetting(config.base_url, DEFAULT_BASE_URL, allow)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        body = json.dumps(payload(message, self._config), separators=(",", ":")).encode()
        headers = {"Accept": "application/json", "Content-Type": "application/json",
                   "X-Postmark-Server-Token": self._config.server_token}
        answer = await request(self._client, "POST", f"{self._config.base_url}/email", name=self.name,
                               content=body, headers=headers, allow=self._allow, deadline_s=self._deadline_s)
        if accepted(self.name, answer):
            try:
                message_id = str(answer.json()["MessageID"])
            except (ValueError, KeyError, TypeError):
                message_id = message.delivery_key
            return ProviderReceipt(provider=self.name, provider_message_id=message_id)
        code, text = _error(answer.body)
        reason = f"ErrorCode {code}: {text}" if code is not None else None
        if code in _TRANSIENT_CODES:
            raise TransientDeliveryError(f"{self.name}: HTTP {answer.status} {words(answer, reason)}")
        raise by_status(self.name, answer, reason)


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          allow: Allowlist = PUBLIC_ONLY) -> Provider:
    """`allow`: the egress exceptions (HERALD_WEBHOOK_ALLOWED_HOSTS) a non-default `base_url` may use."""
    return PostmarkProvider(name, config, client, deadline_s=deadline_s, allow=allow)
