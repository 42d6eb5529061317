"""Email through SendGrid's v3 Mail Send API: `POST {base_url}/v3/mail/send`, a Bearer API key, JSON.

SendGrid answers 202 with an empty body and the message id in `X-Message-Id`. 429 is transient, retried when
its rate limit resets (`X-RateLimit-Reset`, a Unix time); 5xx is transient; 400 (a bad field or address), 401
(a bad key), 403 (an unverified sender, a key without the mail.send scope) and 413 are permanent.
Mail Send has no idempotency key: the delivery key travels as `custom_args` (SendGrid returns them in every
event of its event webhook) and as a header of the email.
"""

from __future__ import annotations

import json
import time
from email.utils import parseaddr
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers.base import OutgoingMessage, Provider, ProviderReceipt
from providers.egress import Allowlist
from providers.http_gateway import request
from providers.vendor_email import DELIVERY_KEY_HEADER, Secret, Sender, accepted, by_status, text_and_html
from providers.vendor_http import PUBLIC_ONLY, BaseUrl, vetting

CHANNELS = ("email",)
# The event webhook's verification key is a public key: shown, not masked.
SECRETS = ("api_key",)
DEFAULT_BASE_URL = "https://api.sendgrid.com"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    api_key: Secret
    sender: Sender = Field(alias="from")
    # The event webhook's public key (base64 DER, ECDSA P-256): checked by the feedback endpoint, not here.
    webhook_verification_key: Secret | None = None
    base_url: BaseUrl = DEFAULT_BASE_URL


def payload(message: OutgoingMessage, sender: str) -> dict[str, Any]:
    name, address = parseaddr(sender)
    text, html = text_and_html(message)
    # SendGrid requires text/plain first, then text/html.
    content = [{"type": "text/plain", "value": text}]
    if html:
        content.append({"type": "text/html", "value": html})
    from_: dict[str, str] = {"email": address}
    if name:
        from_["name"] = name
    return {
        "personalizations": [{"to": [{"email": message.address}]}],
        "from": from_,
        "subject": message.subject,
        "content": content,
        "headers": {DELIVERY_KEY_HEADER: message.delivery_key},
        "custom_args": {"herald_delivery_key": message.delivery_key,
                        "herald_notification_id": message.notification_id},
    }


def _reset_in(value: str | None) -> float | None:
    """`X-RateLimit-Reset` (a Unix time) as seconds from now."""
    if not value or not value.strip().isdigit():
        return None
    return max(0.0, int(value.strip()) - time.time())


def _errors(body: bytes) -> str | None:
    """SendGrid's error body: `{"errors": [{"message", "field", "help"}]}`, as one line."""
    try:
        data = json.loads(body)
        return "; ".join(f"{e.get('field') or '-'}: {e.get('message')}" for e in data["errors"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class SendGridProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vetting(config.base_url, DEFAULT_BASE_URL, allow)

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        body = json.dumps(payload(message, self._config.sender), separators=(",", ":")).encode()
        headers = {"Authorization": f"Bearer {self._config.api_key}", "Content-Type": "application/json"}
        answer = await request(self._client, "POST", f"{self._config.base_url}/v3/mail/send", name=self.name,
                               content=body, headers=headers, allow=self._allow, deadline_s=self._deadline_s)
        if accepted(self.name, answer):
            return ProviderReceipt(provider=self.name,
                                   provider_message_id=answer.headers.get("x-message-id") or message.delivery_key)
        error = by_status(self.name, answer, _errors(answer.body))
        if answer.status == 429 and error.retry_after_s is None:
            error.retry_after_s = _reset_in(answer.headers.get("x-ratelimit-reset"))
        raise error


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          allow: Allowlist = PUBLIC_ONLY) -> Provider:
    """`allow`: the egress exceptions (HERALD_WEBHOOK_ALLOWED_HOSTS) a non-default `base_url` may use."""
    return SendGridProvider(name, config, client, deadline_s=deadline_s, allow=allow)
