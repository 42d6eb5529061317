"""Email through Mailgun's Messages API: `POST {base_url}/v3/{domain}/messages`, HTTP Basic auth (`api` and the
API key), multipart/form-data.

Mailgun answers 200 `{"id": "<...>", "message": "Queued. Thank you."}`; the id is the receipt. 429 is transient
(honouring `Retry-After`), 5xx is transient; 400 (a missing or invalid parameter, a bad address), 401 and 403 (a
bad key), 402 (a request that failed, such as a plan that cannot send) and 404 (an unknown domain) are
permanent. The Messages API has no idempotency key: the delivery key travels as an email header (`h:`) and as a
custom variable (`v:`), which Mailgun returns in the `user-variables` of every event webhook.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field

from providers.base import OutgoingMessage, Provider, ProviderReceipt
from providers.egress import Allowlist
from providers.http_gateway import request
from providers.vendor_email import DELIVERY_KEY_HEADER, Secret, Sender, accepted, by_status, text_and_html
from providers.vendor_http import PUBLIC_ONLY, BaseUrl, vetting

CHANNELS = ("email",)
SECRETS = ("api_key", "webhook_signing_key")
# The US region; EU domains use https://api.eu.mailgun.net.
DEFAULT_BASE_URL = "https://api.mailgun.net"

# A sending domain: it becomes part of the request's path, so nothing but a host name passes.
Domain = Annotated[str, Field(max_length=253, pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                                                     r"[A-Za-z]{2,63}$")]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    domain: Domain
    api_key: Secret
    sender: Sender = Field(alias="from")
    # Checks the signature of Mailgun's webhooks (the feedback endpoint), not used to send.
    webhook_signing_key: Secret | None = None
    base_url: BaseUrl = DEFAULT_BASE_URL


def fields(message: OutgoingMessage, sender: str) -> list[tuple[str, str]]:
    text, html = text_and_html(message)
    form = [("from", sender), ("to", message.address), ("subject", message.subject), ("text", text)]
    if html:
        form.append(("html", html))
    form += [(f"h:{DELIVERY_KEY_HEADER}", message.delivery_key),
             ("v:herald_delivery_key", message.delivery_key),
             ("v:herald_notification_id", message.notification_id)]
    return form


def multipart(form: list[tuple[str, str]]) -> tuple[bytes, str]:
    """The form as multipart/form-data: its body and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
             f"Content-Type: text/plain; charset=utf-8\r\n\r\n".encode() + value.encode() + b"\r\n"
             for name, value in form]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _reason(body: bytes) -> str | None:
    """Mailgun's error body: `{"message": "..."}` (some auth errors are the bare word `Forbidden`)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return str(data["message"]) if isinstance(data, dict) and "message" in data else None


class MailgunProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._config = config
        self._client = client
        self._deadline_s = deadline_s
        self._allow = vetting(config.base_url, DEFAULT_BASE_URL, allow)
        credentials = base64.b64encode(f"api:{config.api_key}".encode()).decode()
        self._authorization = f"Basic {credentials}"

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        c = self._config
        body, content_type = multipart(fields(message, c.sender))
        answer = await request(self._client, "POST", f"{c.base_url}/v3/{c.domain}/messages", name=self.name,
                               content=body,
                               headers={"Authorization": self._authorization, "Content-Type": content_type},
                               allow=self._allow, deadline_s=self._deadline_s)
        if accepted(self.name, answer):
            try:
                message_id = str(answer.json()["id"])
            except (ValueError, KeyError, TypeError):
                message_id = message.delivery_key
            return ProviderReceipt(provider=self.name, provider_message_id=message_id)
        raise by_status(self.name, answer, _reason(answer.body))


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          allow: Allowlist = PUBLIC_ONLY) -> Provider:
    """`allow`: the egress exceptions (HERALD_WEBHOOK_ALLOWED_HOSTS) a non-default `base_url` may use."""
    return MailgunProvider(name, config, client, deadline_s=deadline_s, allow=allow)
