"""Discord: a channel's webhook, executed with `?wait=true` so Discord answers with the message it created.

`POST {webhook_url}?wait=true`, JSON with `content` (at most 2000 characters). Errors are
`{"message", "code"}` (10015 unknown webhook, 50027 invalid webhook token, 50006 empty message, 50035 invalid
form body); 429 carries `retry_after` (seconds, fractional) in its body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from providers import vendor_http
from providers.base import OutgoingMessage, PermanentDeliveryError, Provider, ProviderReceipt, TransientDeliveryError
from providers.egress import Allowlist
from providers.http_gateway import request

CHANNELS = ("chat",)
SECRETS = ("webhook_url",)  # its last path segment is the webhook's token
MAX_CONTENT = 2000
# Mentions of users in a template work; @everyone, @here and roles never ping, whatever the data says.
ALLOWED_MENTIONS = {"parse": ["users"]}


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: vendor_http.HttpUrl
    # Where the webhook's path is sent instead of its own host (a proxy, a test double).
    base_url: vendor_http.BaseUrl | None = None


def content(message: OutgoingMessage) -> str:
    """The subject in bold above the body, in Discord's markdown."""
    return f"**{message.subject}**\n{message.body}" if message.subject else message.body


def _waiting(url: str) -> str:
    """The webhook URL asking Discord to answer with the message it created."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "wait"] + [("wait", "true")]
    return parts._replace(query=urlencode(query)).geturl()


class DiscordProvider:
    def __init__(self, name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
                 allow: Allowlist):
        self.name = name
        self._url = _waiting(vendor_http.rebase(config.webhook_url, config.base_url))
        self._client = client
        self._deadline_s = deadline_s
        self._allow = allow

    async def send(self, message: OutgoingMessage) -> ProviderReceipt:
        text = content(message)
        if len(text) > MAX_CONTENT:
            raise PermanentDeliveryError(f"{self.name}: the message is {len(text)} characters; Discord takes at "
                                         f"most {MAX_CONTENT}")
        payload = {"content": text, "allowed_mentions": ALLOWED_MENTIONS}
        answer = await request(self._client, "POST", self._url, name=self.name, content=vendor_http.as_json(payload),
                               headers={"Content-Type": "application/json"}, allow=self._allow,
                               deadline_s=self._deadline_s)
        data: Any = vendor_http.json_of(answer)
        if 200 <= answer.status < 300:
            message_id = data.get("id") if isinstance(data, dict) else None
            return ProviderReceipt(self.name, str(message_id) if message_id else message.delivery_key)
        detail = (f"error {data.get('code')}: {vendor_http.said(data.get('message', ''))}" if isinstance(data, dict)
                  else vendor_http.said(answer.body.decode(errors="replace")))
        overload = vendor_http.overload(self.name, answer, detail)
        if overload is not None:
            if answer.status == 429 and isinstance(data, dict) and isinstance(data.get("retry_after"), int | float):
                raise TransientDeliveryError(overload.message, retry_after_s=float(data["retry_after"]))
            raise overload
        # 401/403/404: the webhook was deleted or its token is wrong; 400: a message Discord will never take.
        raise PermanentDeliveryError(f"{self.name}: HTTP {answer.status} {detail}")


def build(name: str, config: Config, client: httpx.AsyncClient, *, deadline_s: float,
          status_callback: str | None = None, allow: Allowlist = vendor_http.PUBLIC_ONLY) -> Provider:
    return DiscordProvider(name, config, client, deadline_s=deadline_s, allow=allow)
